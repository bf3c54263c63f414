/**
 * The shape of a command: its options and positional arguments (for parsing and `--help`) and
 * the function that runs it with a parsed {@link CommandContext}.
 */
import type { CliIo } from './io.js';
import type { Style } from './format.js';

/** One `--option`. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** One-letter alias, e.g. `n` for `-n`. */
  short?: string;
  /** Placeholder for the value in help, e.g. `ID`. */
  valueName?: string;
  description: string;
  /** A string option that may be given several times (read with {@link CommandContext.strings}). */
  multiple?: boolean;
}

/** One positional argument, e.g. `FILE`. */
export interface PositionalSpec {
  name: string;
  description: string;
  /** Used when the argument is left out (only the last positionals may have one). */
  default?: string;
}

/** A runnable command such as `approvals list` or `init`. */
export interface CommandSpec {
  name: string;
  summary: string;
  /** Extra paragraphs for `--help`. */
  details?: string;
  options: Readonly<Record<string, OptionSpec>>;
  /** In order; required unless they have a `default`. */
  positionals: readonly PositionalSpec[];
  /** Takes the words after `--` as they are (e.g. a command to run). */
  rest?: PositionalSpec;
  examples?: readonly string[];
  run(ctx: CommandContext): Promise<number>;
}

/** A word that groups commands, such as `approvals`. */
export interface CommandGroup {
  name: string;
  summary: string;
  commands: readonly CommandSpec[];
}

/** A top-level entry: a command (`init`) or a group (`approvals`). */
export type TopLevelEntry = CommandSpec | CommandGroup;

/** True for a group. */
export function isGroup(entry: TopLevelEntry): entry is CommandGroup {
  return 'commands' in entry;
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  'data-dir': {
    type: 'string',
    valueName: 'DIR',
    description: 'where the Ascend database lives (default: $ASCEND_DATA_DIR or .ascend)',
  },
  'api-url': {
    type: 'string',
    valueName: 'URL',
    description: 'work against an ascend server instead of the local database (default: $ASCEND_API_URL; key in $ASCEND_API_KEY)',
  },
  json: { type: 'boolean', description: 'machine output: one JSON document on stdout' },
  help: { type: 'boolean', short: 'h', description: 'show help for this command' },
};

/** Everything a command needs, already parsed. */
export interface CommandContext {
  io: CliIo;
  /** e.g. `approvals list`, for messages and help hints. */
  commandPath: string;
  /** `--json` was given. */
  json: boolean;
  /** Absolute path of the data directory. */
  dataDir: string;
  style: Style;
  /** Epoch milliseconds. */
  now(): number;
  /** Value of a string option, if given (the last one, for an option given several times). */
  string(option: string): string | undefined;
  /** Every value of a string option, in order (empty when not given). */
  strings(option: string): string[];
  /** Whether a boolean option was given. */
  flag(option: string): boolean;
  /** Value of a positional argument by its spec name, or its default (always present: parsing checks). */
  arg(name: string): string;
  /** The words after `--` (commands with {@link CommandSpec.rest}). */
  rest(): string[];
  /** Write to stdout (waits on back-pressure). */
  out(text: string): Promise<void>;
  /** Write to stderr. */
  err(text: string): void;
}
