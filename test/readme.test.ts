/**
 * The README's code works as written. Every ```ts block is a program, run as its own process in a
 * fresh directory the way a newcomer runs it: no `ascend.policy.yaml` there, so the starter policy
 * decides, and `ascend-sdk` resolves to this repository's source. A block that is an excerpt says
 * so beside it and names the whole program under examples/readme/, which must contain it verbatim;
 * that program is what runs. Every block (and every excerpt's program) type-checks under strict
 * settings, and every ```yaml block is a policy that loads — or, marked `<!-- cases -->`, a policy
 * cases file whose every case passes against the starter policy.
 *
 * Marks, on the line before a block (HTML comments: GitHub does not show them):
 *   <!-- example: NAME -->                                  the block is a whole program
 *   <!-- example: NAME (excerpt of examples/readme/F.ts) --> the block is part of that program
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePolicy, parsePolicyCases, runPolicyCases, STARTER_POLICY_YAML } from '../src/engine/index.js';
import { ROOT, TSX_IMPORT, tempDir } from './helpers.js';
import { disposeServer, startServerProcess, type ServerProcess } from './server/helpers.js';
import { platformStandIn } from './fixtures/platform-stand-in.js';

/** Stand-ins started by examples, stopped when the file is done. */
const closeAfter: Array<() => Promise<unknown>> = [];

interface Block {
  lang: string;
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
  name?: string;
  excerptOf?: string;
  /** Marked `<!-- cases -->`: a policy cases file. */
  cases?: boolean;
}

const CASES_MARK = /^<!--\s*cases\s*-->$/;
const MARK = /^<!--\s*example:\s*([a-z0-9-]+)(?:\s*\(excerpt of ([\w./-]+)\))?\s*-->$/;

/** The fenced code blocks of a Markdown text, each with the example mark on the line before it. */
function codeBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.indexOf('```', i + 1);
    if (end < 0) throw new Error(`README.md:${i + 1}: unclosed code block`);
    const block: Block = { lang: open[1]!, code: lines.slice(i + 1, end).join('\n') + '\n', line: i + 1 };
    if (CASES_MARK.test(lines[i - 1]?.trim() ?? '')) block.cases = true;
    const mark = MARK.exec(lines[i - 1]?.trim() ?? '');
    if (mark) {
      block.name = mark[1]!;
      if (mark[2]) block.excerptOf = mark[2];
    }
    found.push(block);
    i = end;
  }
  return found;
}

/** What each example must print, and what it runs against. */
interface Expectation {
  stdout: Array<string | RegExp>;
  stderr?: Array<string | RegExp>;
  /** What the person at the terminal types. */
  stdin?: string;
  /** Run against a real `ascend serve` (starter policy) with this key in ASCEND_API_KEY. */
  server?: 'agent' | 'admin';
  /** Run against the hosted platform's stand-in, its address and key in PLATFORM_URL and PLATFORM_KEY. */
  platform?: true;
}

const EXPECTED: Record<string, Expectation> = {
  intro: { stdout: ["[ { name: 'Ada' }, { name: 'Grace' } ]"] },
  'quick-start': {
    stdout: [
      "allowed: [ { name: 'Ada' }, { name: 'Grace' } ]",
      "denied: database.query was denied: Destructive SQL (DROP, TRUNCATE, or UPDATE/DELETE without WHERE) is not allowed. [ 'deny-destructive-sql' ]",
      '(mail to ada@example.com: Your ticket is solved)',
      /^allowed Allowed by rule "allow-writes"\. 35 medium \[ 'verb_class \+25', 'pii_email \+10' \]$/m,
    ],
    // logLevel 'warn' and jsonLogs: false: the starter-policy warning as a readable line, nothing at info, no JSON.
    stderr: [/^\d\d:\d\d:\d\d\.\d{3} WARN No policy file found: using the starter policy/m],
  },
  langchain: {
    stdout: [
      'sql: [{"name":"Ada"},{"name":"Grace"}]',
      'sql: Tool "sql" did not run: Destructive SQL (DROP, TRUNCATE, or UPDATE/DELETE without WHERE) is not allowed.',
      'pay: paid 120',
    ],
  },
  'ai-sdk': {
    stdout: [/paid 120\nAllow transfer \{"amount":50000\}\? → yes\npaid 50000\nBoth invoices are paid\.\n/, 'recorded: approved by app-user via app-ui'],
  },
  mcp: { stdout: ["[ { type: 'text', text: 'saved todo' } ] ship it"] },
  approvals: {
    stdout: [
      "denied [ 'approval_timeout' ]",
      'pending Transfers above 10,000 need approval from finance.',
      'approved alice api',
      "allowed [ 'approved' ] alice",
    ],
  },
  'edit-and-approve': {
    stdout: ['sent 50000 to EU-9 (Approved with edits by alice via api: use the EU account)'],
  },
  'terminal-approver': {
    stdin: 'y\n',
    stdout: ['sent 50,000'],
    stderr: ['Approval needed: financial.transfer (agent cli-agent)', 'Approve? [y]es / [g]rant 15 min / [N]o:'],
  },
  'remote-client': { server: 'agent', stdout: ['paid 5000'] },
  platform: { platform: true, stdout: ['allowed: [{"name":"Ada"}]', 'denied: database.execute was denied: Destructive operation blocked by policy'] },
  webhooks: { server: 'admin', stdout: ['"url":"https://ops.example.com/ascend"', '"events":["action.denied","approval.requested"]'] },
  'verify-webhook': {
    stdout: ['delivery: { ok: true }', "altered body: { ok: false, reason: 'the signature does not match the body' }"],
  },
};

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const BLOCKS = codeBlocks(README);
const TS_BLOCKS = BLOCKS.filter((b) => b.lang === 'ts' || b.lang === 'typescript');

/** Each entry point of the package (package.json `exports`), mapped to its source file. */
function sourcePaths(): Record<string, string[]> {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, string | { import: string }> };
  const paths: Record<string, string[]> = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue; // ./package.json
    const source = path.join(ROOT, target.import.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));
    if (!fs.existsSync(source)) throw new Error(`package.json exports ${subpath} → ${target.import}, but ${source} does not exist`);
    paths[`ascend-sdk${subpath.slice(1)}`] = [source];
  }
  return paths;
}

const dirs: string[] = [];

/**
 * A fresh directory laid out like a user's project: `"type": "module"`, the repository's
 * node_modules, and a tsconfig whose `paths` send `ascend-sdk` to the source (tsx and tsc read them).
 */
function project(): string {
  const dir = tempDir('ascend-readme-');
  dirs.push(dir);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'readme-example', private: true, type: 'module' }));
  const compilerOptions = {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2023'],
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    noFallthroughCasesInSwitch: true,
    esModuleInterop: true,
    resolveJsonModule: true,
    skipLibCheck: true,
    isolatedModules: true,
    verbatimModuleSyntax: true,
    noEmit: true,
    paths: sourcePaths(),
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts'] }, null, 2));
  return dir;
}

/** The program an example runs: the block itself, or the whole program it is an excerpt of. */
function programOf(block: Block): string {
  return block.excerptOf ? fs.readFileSync(path.join(ROOT, block.excerptOf), 'utf8') : block.code;
}

/** Run `file` in `dir` with tsx, killed after `deadlineMs`. No ASCEND_* variable of ours leaks in. */
function run(
  dir: string,
  file: string,
  options: { env?: Record<string, string>; stdin?: string; deadlineMs: number },
): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('ASCEND_')) env[key] = value;
  Object.assign(env, options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX_IMPORT, file], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.deadlineMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

function expectAll(text: string, patterns: Array<string | RegExp>, label: string): void {
  for (const pattern of patterns) {
    if (typeof pattern === 'string') expect(text, `${label} should contain ${JSON.stringify(pattern)}`).toContain(pattern);
    else expect(text, label).toMatch(pattern);
  }
}

let server: ServerProcess | undefined;

afterAll(async () => {
  await disposeServer(server);
  for (const close of closeAfter.splice(0)) await close();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('README.md code blocks', () => {
  it('every TypeScript block is marked as a program or as an excerpt of a program that contains it verbatim, and is run below', () => {
    expect(TS_BLOCKS.length).toBeGreaterThanOrEqual(Object.keys(EXPECTED).length);
    const names: string[] = [];
    for (const block of TS_BLOCKS) {
      const where = `README.md:${block.line}`;
      expect(block.name, `${where}: a \`\`\`ts block needs <!-- example: NAME --> (or "(excerpt of examples/readme/FILE.ts)") on the line before it`).toBeDefined();
      expect(EXPECTED, `${where}: example "${block.name}" has no expectations in test/readme.test.ts`).toHaveProperty([block.name!]);
      names.push(block.name!);
      if (block.excerptOf) {
        expect(block.excerptOf, where).toMatch(/^examples\/readme\/[\w-]+\.ts$/);
        const file = path.join(ROOT, block.excerptOf);
        expect(fs.existsSync(file), `${where}: ${block.excerptOf} does not exist`).toBe(true);
        expect(fs.readFileSync(file, 'utf8').includes(block.code), `${where}: ${block.excerptOf} does not contain the block verbatim`).toBe(true);
      }
    }
    expect(new Set(names).size, 'example names are unique').toBe(names.length);
    expect(names.sort(), 'every example named here is in the README').toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [name, expected] of Object.entries(EXPECTED)) {
    it(`example "${name}" runs to completion and prints what it promises`, async () => {
      const block = TS_BLOCKS.find((b) => b.name === name);
      expect(block, `no README block marked "${name}"`).toBeDefined();
      const dir = project();
      fs.writeFileSync(path.join(dir, 'example.ts'), programOf(block!));
      const env: Record<string, string> = {};
      if (expected.server) {
        server ??= await startServerProcess({ policy: STARTER_POLICY_YAML, args: ['--allow-private-webhooks'] });
        env.ASCEND_API_URL = server.url;
        env.ASCEND_API_KEY = server.keys[expected.server].apiKey;
        env.HOOK_SECRET = 'a-webhook-secret-for-the-readme';
      }
      if (expected.platform) {
        const platform = await platformStandIn();
        closeAfter.push(() => platform.close());
        env.PLATFORM_URL = platform.url;
        env.PLATFORM_KEY = platform.apiKey;
      }
      const result = await run(dir, 'example.ts', { env, ...(expected.stdin !== undefined ? { stdin: expected.stdin } : {}), deadlineMs: 120_000 });
      const label = `README.md:${block!.line} (${name})\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
      expect(result.timedOut, `${label}\ndid not finish within 120 s`).toBe(false);
      expect(result.code, label).toBe(0);
      expectAll(result.stdout, expected.stdout, label);
      expectAll(result.stderr, expected.stderr ?? [], label);
      if (name === 'quick-start') {
        expect(result.stderr, 'jsonLogs: false writes no JSON').not.toContain('{"level"');
        expect(result.stderr, "logLevel 'warn' hides info records").not.toMatch(/ INFO /);
      }
    }, 150_000);
  }

  it('every TypeScript block type-checks under strict settings, as a user compiles it', async () => {
    const dir = project();
    for (const block of TS_BLOCKS) fs.writeFileSync(path.join(dir, `${block.name ?? `line-${block.line}`}.ts`), programOf(block));
    fs.writeFileSync(path.join(dir, 'canary.ts'), "export const canary: number = 'not a number';\n");
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const result = await new Promise<{ out: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve({ out }));
    });
    // Only the examples' own errors (and tsc's own, such as a bad option): the repository's
    // source is type-checked by `npm run typecheck`.
    const errors = result.out.split('\n').filter((line) => /^[\w-]+\.ts\(\d+,\d+\): error/.test(line) || /^error TS/.test(line));
    // The canary proves the examples were checked at all.
    expect(errors.filter((line) => line.startsWith('canary.ts(')), result.out).toHaveLength(1);
    expect(errors.filter((line) => !line.startsWith('canary.ts(')), result.out).toEqual([]);
  }, 240_000);

  it('every YAML block is a policy that loads', () => {
    const yamlBlocks = BLOCKS.filter((b) => b.lang === 'yaml' || b.lang === 'yml');
    expect(yamlBlocks.length).toBeGreaterThan(0);
    const starter = parsePolicy(STARTER_POLICY_YAML, 'ascend.policy.yaml');
    for (const block of yamlBlocks) {
      const where = `README.md:${block.line}`;
      if (!block.cases) {
        expect(() => parsePolicy(block.code, where), where).not.toThrow();
        continue;
      }
      const failed = runPolicyCases(starter, parsePolicyCases(block.code, where), Date.now()).filter((r) => !r.ok);
      expect(failed.map((r) => `${r.name}: ${r.problems.join('; ')}`), where).toEqual([]);
    }
  });
});
