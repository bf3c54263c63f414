/**
 * CLI-level errors and the single mapping from any thrown error to an exit code and a one-line
 * message. Commands throw; `runCli` catches once.
 */
import { AscendError } from '../core/errors.js';
import { ExitCode } from './exit-codes.js';

/** Bad command line: unknown command/option, missing or malformed argument. Exit 2. */
export class UsageError extends Error {
  /** The command whose `--help` would help, e.g. `approvals list`. */
  readonly helpFor: string | undefined;
  constructor(message: string, helpFor?: string) {
    super(message);
    this.name = 'UsageError';
    this.helpFor = helpFor;
  }
}

/** The thing checked failed and the command already printed why, or says so here. Exit 1. */
export class CheckFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckFailedError';
  }
}

/** Node's file-system error codes that mean "I/O went wrong" (exit 5). */
const IO_ERROR_CODES = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'ENOSPC', 'EROFS', 'EEXIST', 'EIO', 'EBUSY', 'EMFILE']);

/** The exit code for an error thrown by a command. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return ExitCode.USAGE;
  if (err instanceof CheckFailedError) return ExitCode.CHECK_FAILED;
  if (err instanceof AscendError) {
    switch (err.code) {
      case 'validation_error':
        return ExitCode.USAGE;
      case 'policy_error':
        return ExitCode.CHECK_FAILED;
      case 'not_found':
        return ExitCode.NOT_FOUND;
      case 'conflict':
        return ExitCode.CONFLICT;
      case 'authentication_error':
      case 'authorization_error':
        return ExitCode.PERMISSION_DENIED;
      default:
        return ExitCode.STORE_ERROR;
    }
  }
  return ExitCode.STORE_ERROR;
}

/** One line for stderr, without the `ascend: ` prefix. */
export function errorMessage(err: unknown): string {
  let message: string;
  if (err instanceof UsageError) {
    const help = err.helpFor === undefined ? 'ascend --help' : `ascend ${err.helpFor} --help`.replace(/\s+/g, ' ');
    message = `${err.message} (see \`${help}\`)`;
  } else if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const path = (err as NodeJS.ErrnoException).path;
    if (typeof code === 'string' && IO_ERROR_CODES.has(code) && typeof path === 'string') {
      message = `cannot access ${path}: ${ioReason(code)}`;
    } else {
      message = err.message || err.name;
    }
  } else {
    message = String(err);
  }
  // One line, always: multi-line messages (e.g. from SQLite) are folded.
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

function ioReason(code: string): string {
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'not a directory';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EROFS':
      return 'read-only file system';
    default:
      return code;
  }
}
