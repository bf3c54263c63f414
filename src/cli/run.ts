/**
 * `runCli`: parse the command line, find the command, run it, and turn whatever it throws into
 * one stderr line and an exit code. Everything the CLI does goes through here, in-process
 * (tests) or from `main.ts`.
 */
import { parseArgs } from 'node:util';
import { GLOBAL_OPTIONS, isGroup, type CommandContext, type CommandSpec, type OptionSpec, type TopLevelEntry } from './command.js';
import { errorMessage, exitCodeFor, UsageError } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { makeStyle } from './format.js';
import { commandHelp, groupHelp, programHelp } from './help.js';
import { colourEnabled, writeWithBackpressure, type CliIo } from './io.js';
import { COMMANDS } from './registry.js';
import { resolveDataDir } from './store-access.js';
import { editDistance } from '../core/did-you-mean.js';
import { packageVersion } from '../core/version.js';

export type { CliIo, CliOutput } from './io.js';
export { ExitCode } from './exit-codes.js';

/**
 * Run the `ascend` command line `argv` (without `node` and the script) against `io`.
 * Resolves to the exit code; never rejects.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    return await dispatch([...argv], io, COMMANDS);
  } catch (err) {
    io.stderr.write(`ascend: ${errorMessage(err)}\n`);
    if (io.env.ASCEND_DEBUG === '1' && err instanceof Error && err.stack !== undefined) io.stderr.write(`${err.stack}\n`);
    return exitCodeFor(err);
  }
}

/** What a first look at argv finds: the command words and whether help/version was asked. */
interface Scan {
  words: string[];
  help: boolean;
  version: boolean;
}

/**
 * Find the command words (the first positionals) without knowing the command yet. Values of
 * options that take one are skipped, so `--data-dir d approvals list` finds `approvals list`.
 */
function scan(argv: readonly string[], entries: readonly TopLevelEntry[]): Scan {
  const takesValue = valueOptionNames(entries);
  const result: Scan = { words: [], help: false, version: false };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') break;
    if (token === '--help' || token === '-h') result.help = true;
    else if (token === '--version') result.version = true;
    else if (token.startsWith('-') && token !== '-') {
      if (!token.includes('=') && takesValue.has(token)) i++;
    } else if (result.words.length < 2) result.words.push(token);
  }
  return result;
}

function valueOptionNames(entries: readonly TopLevelEntry[]): Set<string> {
  const names = new Set<string>();
  const add = (options: Readonly<Record<string, OptionSpec>>): void => {
    for (const [name, spec] of Object.entries(options)) {
      if (spec.type !== 'string') continue;
      names.add(`--${name}`);
      if (spec.short !== undefined) names.add(`-${spec.short}`);
    }
  };
  add(GLOBAL_OPTIONS);
  for (const entry of entries) for (const command of isGroup(entry) ? entry.commands : [entry]) add(command.options);
  return names;
}

async function dispatch(argv: string[], io: CliIo, entries: readonly TopLevelEntry[]): Promise<number> {
  const { words, help, version } = scan(argv, entries);
  const [first, second] = words;
  if (first === undefined) {
    if (version) {
      await writeWithBackpressure(io.stdout, `${packageVersion()}\n`);
      return ExitCode.OK;
    }
    if (help) {
      await writeWithBackpressure(io.stdout, programHelp(entries));
      return ExitCode.OK;
    }
    // No command at all: show what there is, but as a usage error so scripts notice.
    io.stderr.write(programHelp(entries));
    return ExitCode.USAGE;
  }
  const entry = entries.find((e) => e.name === first);
  if (entry === undefined) {
    throw new UsageError(`unknown command "${first}"${suggestion(first, entries.map((e) => e.name))}`);
  }
  if (!isGroup(entry)) return runCommand(entry.name, entry, 1, argv, io, help);
  if (second === undefined) {
    if (help) {
      await writeWithBackpressure(io.stdout, groupHelp(entry));
      return ExitCode.OK;
    }
    const names = entry.commands.map((c) => c.name).join(', ');
    throw new UsageError(`"${entry.name}" needs a command: one of ${names}`, entry.name);
  }
  const command = entry.commands.find((c) => c.name === second);
  if (command === undefined) {
    const names = entry.commands.map((c) => c.name);
    throw new UsageError(`unknown command "${entry.name} ${second}"${suggestion(second, names)}`, entry.name);
  }
  return runCommand(`${entry.name} ${command.name}`, command, 2, argv, io, help);
}

async function runCommand(path: string, command: CommandSpec, wordCount: number, argv: string[], io: CliIo, help: boolean): Promise<number> {
  if (help) {
    await writeWithBackpressure(io.stdout, commandHelp(path, command));
    return ExitCode.OK;
  }
  const allOptions = { ...GLOBAL_OPTIONS, ...command.options };
  const dashdash = argv.indexOf('--');
  const rest = dashdash < 0 ? [] : argv.slice(dashdash + 1);
  if (rest.length > 0 && !command.rest) throw new UsageError(`\`ascend ${path}\` takes nothing after --`, path);
  const parsed = parseCommandLine(dashdash < 0 ? argv : argv.slice(0, dashdash), allOptions, path);
  const positionals = parsed.positionals.slice(wordCount);
  const expected = command.positionals;
  if (positionals.length < expected.length && expected[positionals.length]!.default === undefined) {
    throw new UsageError(`missing ${expected[positionals.length]!.name} for \`ascend ${path}\``, path);
  }
  if (positionals.length > expected.length) {
    throw new UsageError(`unexpected argument "${positionals[expected.length]}" for \`ascend ${path}\``, path);
  }
  const values = parsed.values;
  const dataDirOption = values['data-dir'];
  const now = io.now ?? Date.now;
  const ctx: CommandContext = {
    io,
    commandPath: path,
    json: values.json === true,
    dataDir: resolveDataDir(io, typeof dataDirOption === 'string' ? dataDirOption : undefined),
    style: makeStyle(colourEnabled(io)),
    now,
    string: (name) => {
      const value = values[name];
      return typeof value === 'string' ? value : Array.isArray(value) ? value[value.length - 1] : undefined;
    },
    strings: (name) => {
      const value = values[name];
      return typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
    },
    flag: (name) => values[name] === true,
    arg: (name) => {
      const index = expected.findIndex((p) => p.name === name);
      const value = index < 0 ? undefined : (positionals[index] ?? expected[index]!.default);
      if (value === undefined) throw new Error(`internal: no positional ${name} in ${path}`);
      return value;
    },
    rest: () => rest,
    out: (text) => writeWithBackpressure(io.stdout, text),
    err: (text) => {
      io.stderr.write(text);
    },
  };
  return command.run(ctx);
}

function parseCommandLine(
  argv: string[],
  options: Readonly<Record<string, OptionSpec>>,
  path: string,
): { values: Record<string, string | string[] | boolean | undefined>; positionals: string[] } {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(options)) {
    config[name] = { type: spec.type, ...(spec.short === undefined ? {} : { short: spec.short }), ...(spec.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options: config, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | string[] | boolean | undefined>, positionals };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError(describeParseError(err as Error, Object.keys(config)), path);
    }
    throw err;
  }
}

/** Node's parseArgs messages are long and generic; keep the part that names the option. */
function describeParseError(err: Error, known: readonly string[]): string {
  const unknown = /Unknown option '([^']+)'/.exec(err.message);
  if (unknown) {
    const typed = unknown[1]!;
    return `unknown option ${typed}${typed.startsWith('--') ? suggestion(typed.slice(2), known, '--') : ''}`;
  }
  const missing = /Option '(-[^\s,]+)(?:, (--\S+))?[^']*' argument missing/.exec(err.message);
  if (missing) return `option ${missing[2] ?? missing[1]} needs a value`;
  const ambiguous = /Option '(-[^\s,]+)(?:, (--[^\s']+))?[^']*' argument is ambiguous/.exec(err.message);
  if (ambiguous) {
    const name = ambiguous[2] ?? ambiguous[1];
    return `option ${name} needs a value (for a value starting with a dash, write ${name}=-VALUE)`;
  }
  const noValue = /Option '(-[^\s,]+)(?:, (--\S+))?' does not take an argument/.exec(err.message);
  if (noValue) return `option ${noValue[2] ?? noValue[1]} does not take a value`;
  return err.message.split('. ')[0] ?? err.message;
}

/** ` (did you mean "approvals"?)` when a known name is close to what was typed (`prefix`: how it is written, as `--`). */
function suggestion(typed: string, known: readonly string[], prefix = ''): string {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const name of known) {
    const distance = name.startsWith(typed) && typed.length >= 2 ? 0 : editDistance(typed, name);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= 2 ? ` (did you mean "${prefix}${best}"?)` : '';
}
