/**
 * Exit codes of the `ascend` command. Scripts may rely on these; they are printed by
 * `ascend --help` and never change meaning.
 */
export const ExitCode = {
  /** Success (and any decision printed by `policy test` without `--expect`). */
  OK: 0,
  /** The thing checked failed: invalid policy, broken audit chain, `--expect` mismatch. */
  CHECK_FAILED: 1,
  /** Usage error: unknown command or option, missing or malformed argument. */
  USAGE: 2,
  /** Not found: unknown approval or grant id. */
  NOT_FOUND: 3,
  /** Conflict: already decided, revoked or expired; a file that `init` would overwrite. */
  CONFLICT: 4,
  /** Store or I/O error (and anything unexpected). */
  STORE_ERROR: 5,
  /** Refused: the server does not accept the key, or its role or organisation may not do this. */
  PERMISSION_DENIED: 6,
} as const;

/** One of the {@link ExitCode} values. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit-code table as shown in `ascend --help`. */
export const EXIT_CODE_HELP: ReadonlyArray<readonly [ExitCode, string]> = [
  [ExitCode.OK, 'success (policy test: any decision, unless --expect does not match)'],
  [ExitCode.CHECK_FAILED, 'the thing checked failed: invalid policy, broken audit chain, --expect mismatch'],
  [ExitCode.USAGE, 'usage error: unknown command or option, missing or malformed argument'],
  [ExitCode.NOT_FOUND, 'not found: unknown approval or grant id'],
  [ExitCode.CONFLICT, 'conflict: already decided, revoked or expired; init would overwrite a file'],
  [ExitCode.STORE_ERROR, 'store or I/O error'],
  [ExitCode.PERMISSION_DENIED, "refused: the server does not accept the key, or the key's role may not do this"],
];
