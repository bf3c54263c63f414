/** The nonce memory of one server never forgets a live nonce: full of them, it refuses instead. */
import { describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { MemoryNonceStore } from '../../src/server/nonces.js';

describe('MemoryNonceStore', () => {
  it('refuses a replay, forgets only expired nonces, and refuses new ones when full of live ones', async () => {
    const nonces = new MemoryNonceStore();
    const live = Date.now() + 60_000;
    expect(await nonces.remember('k:1', live)).toBe(true);
    expect(await nonces.remember('k:1', live)).toBe(false);
    for (let i = 2; i <= 500_000; i++) await nonces.remember(`k:${i}`, i % 2 === 0 ? Date.now() - 1 : live);
    // Half had expired: they make room, the live ones stay.
    expect(await nonces.remember('k:new', live)).toBe(true);
    expect(await nonces.remember('k:1', live)).toBe(false);
    const full = new MemoryNonceStore();
    for (let i = 0; i < 500_000; i++) await full.remember(`n:${i}`, live);
    await expect(full.remember('n:one-more', live)).rejects.toBeInstanceOf(StoreError);
    expect(await full.remember('n:0', live)).toBe(false); // still remembered
  });
});
