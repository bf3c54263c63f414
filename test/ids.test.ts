/** Time-ordered ids: UUID-shaped (version 7), unique, and sorted by creation time. */
import { describe, expect, it } from 'vitest';
import { timeOrderedId } from '../src/core/ids.js';

describe('timeOrderedId', () => {
  it('is a version-7 UUID whose text sorts by time, and never repeats', () => {
    const ids = new Set<string>();
    let previous = '';
    for (let ms = 1_700_000_000_000; ms < 1_700_000_000_000 + 5000; ms += 7) {
      const id = timeOrderedId(ms);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(id > previous).toBe(true);
      previous = id;
      ids.add(id);
    }
    for (let i = 0; i < 10_000; i++) ids.add(timeOrderedId(1_800_000_000_000));
    expect(ids.size).toBe(Math.ceil(5000 / 7) + 10_000);
    expect(Number.parseInt(timeOrderedId(0x0123456789ab).replace(/-/g, '').slice(0, 12), 16)).toBe(0x0123456789ab);
  });
});
