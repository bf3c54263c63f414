/**
 * A real full filesystem for the tests that promise nothing is lost when the disk is full: a
 * small tmpfs the test mounts (it runs as root in CI) and fills.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers.js';

/** A fresh tmpfs of `sizeBytes`. Needs root (CI runs as root): without it the test fails, never skips. */
export function mountSmallDisk(sizeBytes: number): string {
  const dir = tempDir('ascend-fulldisk-');
  if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs and must run as root');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  return dir;
}

/** Unmount a disk of {@link mountSmallDisk} and remove its mount point. */
export function unmountDisk(dir: string): void {
  execFileSync('umount', [dir]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Fill the filesystem at `dir` until it refuses another byte. */
export function fill(dir: string): void {
  const chunk = Buffer.alloc(64 * 1024, 1);
  let n = 0;
  for (;;) {
    const fd = fs.openSync(path.join(dir, `filler-${n++}`), 'w');
    try {
      for (;;) fs.writeSync(fd, chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      fs.closeSync(fd);
    }
    // Small writes may still fit in the last partial block: finish with 1-byte files.
    try {
      fs.writeFileSync(path.join(dir, `filler-${n++}`), Buffer.alloc(4096, 1));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return;
      throw err;
    }
  }
}

