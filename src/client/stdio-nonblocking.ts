/**
 * Writing to stdout or stderr without ever waiting on a reader.
 *
 * Node puts a pipe or socket on stdio in non-blocking mode when it opens `process.stdout` /
 * `process.stderr` over it, but that mode belongs to the open file description, which is shared:
 * spawning any child that inherits the descriptor switches it back to blocking (libuv does so in
 * the child, before exec; tsx's esbuild service is one such child). A write to a full pipe would
 * then block the whole process. So:
 *
 * - a pipe (FIFO) is reopened through `/proc/self/fd/N` with O_NONBLOCK: a description of our own
 *   that nobody else can switch back;
 * - a socket cannot be reopened: its non-blocking mode is checked (`/proc/self/fdinfo`) before
 *   writing and set again when a child has cleared it;
 * - files, terminals and devices are written as Node writes them.
 *
 * Where `/proc` is missing (not Linux), the mode Node set is trusted.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';

/** A descriptor to write log lines to. */
export interface StdioTarget {
  /** The descriptor to pass to `fs.writeSync`. */
  readonly fd: number;
  /** Whether a write now cannot wait (false: hold the line and try later). */
  ready(): boolean;
}

const targets = new Map<number, StdioTarget>();

/** The way to write to `fd` (1 or 2) without waiting; one per descriptor and process. */
export function stdioTarget(fd: 1 | 2): StdioTarget {
  let target = targets.get(fd);
  if (!target) {
    target = open(fd);
    targets.set(fd, target);
  }
  return target;
}

function open(fd: 1 | 2): StdioTarget {
  // Node's own stream over the descriptor sets a pipe or socket non-blocking.
  void (fd === 1 ? process.stdout : process.stderr);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.fstatSync(fd);
  } catch {
    stat = undefined;
  }
  if (stat?.isFIFO()) {
    try {
      const own = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      return { fd: own, ready: () => true };
    } catch {
      // No /proc: fall through and trust the mode Node set.
    }
  }
  if (stat?.isSocket() || stat?.isFIFO()) return { fd, ready: () => ensureNonBlocking(fd) };
  return { fd, ready: () => true };
}

/** True when `fd` is non-blocking (set again if a child cleared it), or when that cannot be told. */
function ensureNonBlocking(fd: number): boolean {
  const now = isNonBlocking(fd);
  if (now !== false) return true;
  try {
    // Opening a Node socket over the descriptor sets O_NONBLOCK again; destroying it leaves
    // stdio descriptors open (libuv never closes 0–2).
    // Required here, not imported at start: only a socket a child switched back needs it.
    const net = createRequire(import.meta.url)('node:net') as typeof import('node:net');
    new net.Socket({ fd, readable: false, writable: true }).destroy();
  } catch {
    return false; // e.g. process.stderr is itself waiting on the descriptor
  }
  return isNonBlocking(fd) !== false;
}

function isNonBlocking(fd: number): boolean | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
  } catch {
    return undefined;
  }
  const flags = /^flags:\s*([0-7]+)/m.exec(text);
  return flags ? (parseInt(flags[1]!, 8) & fs.constants.O_NONBLOCK) !== 0 : undefined;
}
