/**
 * Who is acting from this terminal, for `decidedBy` / `revokedBy` / block actors.
 */
import os from 'node:os';
import type { CliIo } from './io.js';

/** `--by NAME` if given, else `user@hostname` of this machine. */
export function resolveActor(byOption: string | undefined, io: CliIo): string {
  if (byOption !== undefined && byOption.trim() !== '') return byOption.trim();
  return `${currentUserName(io)}@${os.hostname()}`;
}

function currentUserName(io: CliIo): string {
  try {
    return os.userInfo().username;
  } catch {
    // Containers may run as a uid with no passwd entry; userInfo() throws there.
    return io.env.USER ?? io.env.USERNAME ?? 'unknown';
  }
}
