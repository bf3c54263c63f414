/**
 * A real `ascend serve` process for tests: a temp dir with a policy, a SQLite database with keys
 * made through the store, and the server listening on a free port of 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { generateApiKey, type NewApiKey } from '../../src/server/api-keys.js';
import { openDatabase, parseDatabaseTarget } from '../../src/server/database.js';
import type { ApiKeyRole } from '../../src/core/types.js';
import { CLI_MAIN, TEST_POLICY, TSX_IMPORT, tempDir, writePolicy } from '../helpers.js';

/** Keys every test server has. */
export interface TestKeys {
  agent: NewApiKey;
  approver: NewApiKey;
  admin: NewApiKey;
  /** An agent key of organisation `other`. */
  otherAgent: NewApiKey;
  otherApprover: NewApiKey;
  /** An agent key that must sign. */
  signer: NewApiKey;
}

/** A running server process. */
export interface ServerProcess {
  url: string;
  dir: string;
  dbPath: string;
  keys: TestKeys;
  child: ChildProcess;
  /** Everything the process wrote to stderr (its logs). */
  logs(): string;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** Start again on the same database and port. */
  restart(): Promise<void>;
}

/** Make the keys a test server uses, stored in the database `db` (a path or a `--db` value). */
export async function seedKeys(db: string): Promise<TestKeys> {
  const make = (role: ApiKeyRole, name: string, org = 'default', extra: { signing?: boolean; requireSigning?: boolean } = {}): NewApiKey =>
    generateApiKey({ name, role, org, createdBy: 'test', ...extra });
  const keys: TestKeys = {
    agent: make('agent', 'bot'),
    approver: make('approver', 'alice'),
    admin: make('admin', 'root'),
    otherAgent: make('agent', 'other-bot', 'other'),
    otherApprover: make('approver', 'mallory', 'other'),
    signer: make('agent', 'signing-bot', 'default', { requireSigning: true }),
  };
  const store = await openDatabase(parseDatabaseTarget(db.includes('://') || db.startsWith('sqlite:') ? db : `sqlite:${db}`, process.cwd()));
  try {
    for (const key of Object.values(keys)) await store.createApiKey(key.record);
  } finally {
    await store.close();
  }
  return keys;
}

/** Start `ascend serve` with `TEST_POLICY` (or `policy`) on a fresh database. */
export async function startServerProcess(
  options: { policy?: string; args?: string[]; env?: Record<string, string>; db?: string; keys?: TestKeys } = {},
): Promise<ServerProcess> {
  const dir = tempDir('ascend-server-');
  const policyPath = writePolicy(dir, options.policy ?? TEST_POLICY);
  const dbPath = path.join(dir, 'ascend.db'); // so `--data-dir dir` of the CLI reaches it
  const db = options.db ?? `sqlite:${dbPath}`;
  const keys = options.keys ?? (await seedKeys(db));
  let stderr = '';
  let port = 0;
  let child!: ChildProcess;
  let url = '';

  const launch = async (): Promise<void> => {
    child = spawn(
      process.execPath,
      ['--import', TSX_IMPORT, CLI_MAIN, 'serve', '--db', db, '--policy', policyPath, '--port', String(port), ...(options.args ?? [])],
      { cwd: dir, env: { ...process.env, NO_COLOR: '1', ASCEND_LOG_LEVEL: 'info', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    url = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => reject(new Error(`server did not start in 15 s:\n${stderr}`)), 15_000);
      child.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        const match = /listening on (http:\/\/\S+)/.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${stderr}`));
      });
    });
    port = Number(new URL(url).port);
  };
  await launch();

  const waitExit = (): Promise<number | null> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
    });

  const server: ServerProcess = {
    get url() {
      return url;
    },
    dir,
    dbPath,
    keys,
    get child() {
      return child;
    },
    logs: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      return waitExit();
    },
    async kill() {
      child.kill('SIGKILL');
      await waitExit();
    },
    restart: launch,
  };
  return server;
}

/** Stop a server (if running) and remove its directory. */
export async function disposeServer(server: ServerProcess | undefined): Promise<void> {
  if (!server) return;
  if (server.child.exitCode === null && server.child.signalCode === null) await server.kill();
  fs.rmSync(server.dir, { recursive: true, force: true });
}

/** `fetch` against the server with a key; resolves with status and parsed body. */
export async function api(
  server: { url: string },
  method: string,
  pathname: string,
  key: NewApiKey | string | undefined,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const token = typeof key === 'string' ? key : key?.apiKey;
  const response = await fetch(server.url + pathname, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** A local HTTP receiver of webhooks: every body it was sent, in order. */
export async function webhookReceiver(): Promise<{ url: string; bodies: string[]; close(): Promise<void> }> {
  const bodies: string[] = [];
  const sink = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/hook`, bodies, close: () => new Promise((r) => sink.close(() => r())) };
}

/**
 * Send exactly this path and these body bytes with these headers (node:http: `fetch` would
 * normalise the path, e.g. drop an empty `?`), with `apiKey` as the Bearer key.
 */
export function sendExactly(
  url: string,
  apiKey: string,
  request: { method: string; pathWithQuery: string; body: string | undefined; headers: Record<string, string> },
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const sent = http.request(
      url + '/',
      {
        method: request.method,
        path: request.pathWithQuery,
        headers: { authorization: `Bearer ${apiKey}`, ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}), ...request.headers },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode!, body: text ? JSON.parse(text) : undefined }));
      },
    );
    sent.on('error', reject);
    sent.end(request.body);
  });
}

/**
 * The paths (with their query) of the `node:http` requests this process has finished sending —
 * handed to the system for the server — from now until `stop()`. A test waits on it until an
 * agent's long-poll is on its way to the server instead of sleeping for a guess of how long that
 * takes. (The server may still be reading it: an approval that overtakes it is then answered at
 * once, still within the poll.)
 */
export function requestsSent(): { paths: string[]; stop(): void } {
  const paths: string[] = [];
  const onStart = (message: unknown): void => {
    const { request } = message as { request: http.ClientRequest };
    request.once('finish', () => paths.push(request.path));
  };
  diagnosticsChannel.subscribe('http.client.request.start', onStart);
  return { paths, stop: () => void diagnosticsChannel.unsubscribe('http.client.request.start', onStart) };
}
