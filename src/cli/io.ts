/**
 * What the CLI talks to: two output streams, a working directory and an environment. `main.ts`
 * passes the real process; tests pass in-memory buffers and call `runCli` directly.
 */

/** A place to write text: `process.stdout`, or a buffer in tests. */
export interface CliOutput {
  write(chunk: string): boolean | void;
  /** True when a person is looking (colour and relative widths allowed). */
  isTTY?: boolean;
  /** Present on real streams; used to wait for `drain` when a write returns false. */
  once?(event: 'drain', listener: () => void): unknown;
}

/** Everything a CLI run depends on. */
export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
  /** Relative paths (policy files, `--data-dir`, `--out`) resolve against this. */
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Aborting it ends long-running commands (`approvals watch`, `audit tail --follow`) cleanly. */
  signal?: AbortSignal;
  /** Clock in epoch milliseconds; defaults to `Date.now`. */
  now?: () => number;
}

/** Write `chunk`, waiting for `drain` when the stream asks us to back off (large exports). */
export async function writeWithBackpressure(out: CliOutput, chunk: string): Promise<void> {
  const accepted = out.write(chunk);
  if (accepted === false && out.once) {
    await new Promise<void>((resolve) => out.once!('drain', resolve));
  }
}

/** Colour only for a person at a terminal that accepts it (https://no-color.org). */
export function colourEnabled(io: CliIo): boolean {
  if (io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '') return false;
  if (io.env.TERM === 'dumb') return false;
  return io.stdout.isTTY === true;
}
