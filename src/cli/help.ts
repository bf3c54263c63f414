/**
 * `--help` text for the program, a command group and a command, built from the specs so help
 * and parsing can never disagree.
 */
import { GLOBAL_OPTIONS, isGroup, type CommandGroup, type CommandSpec, type OptionSpec, type TopLevelEntry } from './command.js';
import { EXIT_CODE_HELP } from './exit-codes.js';

const TAGLINE = "ascend — governance for AI agents' tool calls: allow, deny or hold for a human, with an audit trail.";

/** Lines `  left  right` with the right column aligned. */
function twoColumns(rows: ReadonlyArray<readonly [string, string]>, indent = '  '): string {
  const width = Math.max(0, ...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}  ${right}`.trimEnd() + '\n').join('');
}

function optionLabel(name: string, spec: OptionSpec): string {
  const long = `--${name}${spec.type === 'string' ? ` ${spec.valueName ?? 'VALUE'}` : ''}`;
  return spec.short === undefined ? long : `-${spec.short}, ${long}`;
}

function optionRows(options: Readonly<Record<string, OptionSpec>>): Array<[string, string]> {
  return Object.entries(options).map(([name, spec]) => [optionLabel(name, spec), spec.description]);
}

/** `ascend --help`. */
export function programHelp(entries: readonly TopLevelEntry[]): string {
  const commandRows: Array<[string, string]> = [];
  for (const entry of entries) {
    if (isGroup(entry)) {
      for (const command of entry.commands) commandRows.push([`${entry.name} ${command.name}`, command.summary]);
    } else {
      commandRows.push([entry.name, entry.summary]);
    }
  }
  return [
    `${TAGLINE}\n\n`,
    'Usage: ascend <command> [options]\n\n',
    'Commands:\n',
    twoColumns(commandRows),
    '\nGlobal options:\n',
    twoColumns([...optionRows(GLOBAL_OPTIONS), ['--version', 'print the version and exit']]),
    '\nEnvironment:\n',
    twoColumns([
      ['ASCEND_DATA_DIR', 'default for --data-dir'],
      ['ASCEND_DEBUG=1', 'print stack traces with errors'],
      ['NO_COLOR', 'never colour output (colour is only used on a terminal anyway)'],
    ]),
    '\nExit codes:\n',
    twoColumns(EXIT_CODE_HELP.map(([code, meaning]) => [String(code), meaning])),
    '\nRun `ascend <command> --help` for the options of a command.\n',
  ].join('');
}

/** `ascend approvals --help`. */
export function groupHelp(group: CommandGroup): string {
  return [
    `Usage: ascend ${group.name} <command> [options]\n\n`,
    `${group.summary}\n\n`,
    'Commands:\n',
    twoColumns(group.commands.map((c) => [c.name, c.summary])),
    `\nRun \`ascend ${group.name} <command> --help\` for the options of a command.\n`,
  ].join('');
}

/** `ascend approvals list --help`. */
export function commandHelp(path: string, command: CommandSpec): string {
  const positionals = command.positionals.map((p) => (p.default === undefined ? ` ${p.name}` : ` [${p.name}]`)).join('');
  const hasOptions = Object.keys(command.options).length > 0;
  const rest = command.rest ? ` [-- ${command.rest.name}]` : '';
  const parts = [`Usage: ascend ${path}${positionals}${hasOptions ? ' [options]' : ''}${rest}\n\n`, `${command.summary}\n`];
  if (command.details !== undefined) parts.push(`\n${command.details.trimEnd()}\n`);
  const args = command.rest ? [...command.positionals, command.rest] : command.positionals;
  if (args.length > 0) {
    parts.push('\nArguments:\n', twoColumns(args.map((p) => [p.name, p.description])));
  }
  if (hasOptions) parts.push('\nOptions:\n', twoColumns(optionRows(command.options)));
  parts.push('\nGlobal options:\n', twoColumns(optionRows(GLOBAL_OPTIONS)));
  if (command.examples !== undefined && command.examples.length > 0) {
    parts.push('\nExamples:\n', command.examples.map((e) => `  ${e}\n`).join(''));
  }
  return parts.join('');
}
