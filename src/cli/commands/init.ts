/**
 * `ascend init`: a starter policy, the data directory, and a `.gitignore` entry for it.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { STARTER_CASES_YAML, STARTER_POLICY_YAML } from '../../engine/index.js';
import { ConflictError } from '../../core/errors.js';
import type { CommandSpec } from '../command.js';
import { jsonDocument } from '../format.js';

/** The policy file `init` writes, in the current directory. */
export const POLICY_FILE_NAME = 'ascend.policy.yaml';
/** The policy tests `init` writes next to it. */
export const CASES_FILE_NAME = 'ascend.cases.yaml';

/** What happened to `.gitignore`. */
export type GitignoreChange = 'created' | 'appended' | 'present' | 'skipped';

/**
 * Make sure `.gitignore` in `dir` ignores `entry` (a directory, written `name/`): create the
 * file or append one line, never twice. `/name`, `name` and `/name/` count as present.
 */
export function ensureGitignoreEntry(dir: string, entry: string): GitignoreChange {
  const path = join(dir, '.gitignore');
  const bare = entry.replace(/^\/+|\/+$/g, '');
  if (!existsSync(path)) {
    writeFileSync(path, `${entry}\n`);
    return 'created';
  }
  const content = readFileSync(path, 'utf8');
  const present = content.split(/\r?\n/).some((line) => line.trim().replace(/^\/+|\/+$/g, '') === bare);
  if (present) return 'present';
  const separator = content === '' || content.endsWith('\n') ? '' : '\n';
  writeFileSync(path, `${content}${separator}${entry}\n`);
  return 'appended';
}

export const initCommand: CommandSpec = {
  name: 'init',
  summary: 'write a starter policy and its tests, create the data directory, ignore it in git',
  details:
    `Writes ${POLICY_FILE_NAME} in the current directory (refuses to overwrite it without --force)\n` +
    `and ${CASES_FILE_NAME}, tests it passes (kept when present, unless --force),\n` +
    'creates the data directory, and adds it to .gitignore when it lies inside the current directory.',
  options: {
    force: { type: 'boolean', description: `overwrite an existing ${POLICY_FILE_NAME} and ${CASES_FILE_NAME}` },
  },
  positionals: [],
  examples: ['ascend init', 'ascend init --data-dir var/ascend'],
  async run(ctx) {
    const cwd = ctx.io.cwd;
    const policyPath = join(cwd, POLICY_FILE_NAME);
    const existed = existsSync(policyPath);
    if (existed && !ctx.flag('force')) {
      throw new ConflictError(`${POLICY_FILE_NAME} already exists (use --force to overwrite it)`, { file: policyPath });
    }
    writeFileSync(policyPath, STARTER_POLICY_YAML);
    const casesPath = join(cwd, CASES_FILE_NAME);
    const casesExisted = existsSync(casesPath);
    // Tests someone wrote are theirs: kept unless asked.
    const casesWritten = !casesExisted || ctx.flag('force');
    if (casesWritten) writeFileSync(casesPath, STARTER_CASES_YAML);

    const dataDirExisted = existsSync(ctx.dataDir);
    mkdirSync(ctx.dataDir, { recursive: true });

    // Only a data dir inside this directory can be ignored by this directory's .gitignore.
    const relativeDataDir = relative(cwd, ctx.dataDir);
    const inside = relativeDataDir !== '' && !relativeDataDir.startsWith('..') && !isAbsolute(relativeDataDir);
    const gitignoreEntry = inside ? `${relativeDataDir.split(sep).join('/')}/` : undefined;
    const gitignore: GitignoreChange = gitignoreEntry === undefined ? 'skipped' : ensureGitignoreEntry(cwd, gitignoreEntry);

    if (ctx.json) {
      await ctx.out(
        jsonDocument({
          policyFile: policyPath,
          policy: existed ? 'overwritten' : 'created',
          casesFile: casesPath,
          cases: !casesWritten ? 'kept' : casesExisted ? 'overwritten' : 'created',
          dataDir: ctx.dataDir,
          dataDirCreated: !dataDirExisted,
          gitignore,
          gitignoreEntry: gitignoreEntry ?? null,
        }),
      );
      return 0;
    }
    const shownDataDir = gitignoreEntry ?? ctx.dataDir;
    const lines = [
      `${existed ? 'overwrote' : 'wrote'} ${POLICY_FILE_NAME}`,
      !casesWritten ? `kept ${CASES_FILE_NAME}` : `${casesExisted ? 'overwrote' : 'wrote'} ${CASES_FILE_NAME} (tests the starter policy passes)`,
      dataDirExisted ? `data directory ${shownDataDir} already exists` : `created data directory ${shownDataDir}`,
      {
        created: `created .gitignore with ${gitignoreEntry}`,
        appended: `added ${gitignoreEntry} to .gitignore`,
        present: `.gitignore already ignores ${gitignoreEntry}`,
        skipped: '.gitignore not changed: the data directory is outside this directory',
      }[gitignore],
      '',
      `next: edit ${POLICY_FILE_NAME}, then run \`ascend policy test ${POLICY_FILE_NAME} --cases ${CASES_FILE_NAME}\``,
    ];
    await ctx.out(lines.join('\n') + '\n');
    return 0;
  },
};
