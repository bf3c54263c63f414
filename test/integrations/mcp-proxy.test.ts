/**
 * `ascend mcp-proxy` as a real process in front of `@modelcontextprotocol/server-filesystem` (a
 * real upstream over stdio), driven by the MCP SDK's own Client over stdio: reads pass, a write
 * the policy denies never creates its file, a write that needs approval runs once approved, an
 * upstream error passes through, and closing the client shuts the proxy and its child down.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultDbPath, openSqliteStore } from '../../src/index.js';
import { CLI_MAIN, eventually, TSX_IMPORT, tempDir, writePolicy } from '../helpers.js';

const FILESYSTEM_SERVER = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-filesystem/dist/index.js');

const POLICY = `
version: 1
default: deny
approvalTimeoutSeconds: 20
rules:
  - id: reads
    actions: ["mcp.fs.read_*", "mcp.fs.list_*", "mcp.fs.get_file_info", "mcp.fs.directory_tree", "mcp.fs.search_files"]
    effect: allow
  - id: no-secrets
    actions: ["mcp.fs.write_file"]
    when: 'resource.contains("secret")'
    effect: deny
    reason: Nothing is written to secret files
  - id: writes-need-a-person
    actions: ["mcp.fs.write_file", "mcp.fs.create_directory"]
    effect: require_approval
`;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function proxied() {
  const dir = tempDir('ascend-mcp-proxy-');
  const files = path.join(dir, 'files');
  fs.mkdirSync(files);
  fs.writeFileSync(path.join(files, 'hello.txt'), 'hello from disk');
  const policy = writePolicy(dir, POLICY);
  const dataDir = path.join(dir, '.ascend');
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', TSX_IMPORT, CLI_MAIN, 'mcp-proxy', '--name', 'fs', '--policy', policy, '--data-dir', dataDir, '--', process.execPath, FILESYSTEM_SERVER, files],
    env: { ...process.env, ASCEND_LOG_LEVEL: 'warn' } as Record<string, string>,
    cwd: dir,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'desktop-client', version: '1' }, { capabilities: {} });
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, files, dataDir, transport, stderr: () => stderr };
}

/** The proxy's first pending approval, once its call is waiting. */
function firstPendingApproval(dataDir: string) {
  return eventually(async () => {
    if (!fs.existsSync(defaultDbPath(dataDir))) return undefined;
    const store = openSqliteStore(defaultDbPath(dataDir));
    try {
      return (await store.listApprovals({ status: 'pending' }))[0];
    } finally {
      await store.close();
    }
  }, 10_000);
}

function text(result: Record<string, unknown>): string {
  return (result.content as Array<{ text?: string }>).map((c) => c.text ?? '').join('\n');
}

describe('ascend mcp-proxy', () => {
  it('forwards the tools, passes reads, denies a write (the file never appears), passes upstream errors', async () => {
    const { client, files } = await proxied();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['read_text_file', 'write_file', 'list_directory']));
    const read = await client.callTool({ name: 'read_text_file', arguments: { path: path.join(files, 'hello.txt') } });
    expect(read.isError).toBeFalsy();
    expect(text(read)).toContain('hello from disk');

    const secret = path.join(files, 'secret.txt');
    const denied = await client.callTool({ name: 'write_file', arguments: { path: secret, content: 'leak' } });
    expect(denied.isError).toBe(true);
    expect(text(denied)).toContain('Nothing is written to secret files');
    expect(fs.existsSync(secret)).toBe(false);

    const missing = await client.callTool({ name: 'read_text_file', arguments: { path: path.join(files, 'nope.txt') } });
    expect(missing.isError).toBe(true);
    expect(text(missing)).toMatch(/ENOENT|no such file/i); // the upstream's own error, unchanged
  }, 30_000);

  it('a write that needs approval (its destructive hint in the risk) runs once a person approves it', async () => {
    const { client, files, dataDir } = await proxied();
    const target = path.join(files, 'notes.txt');
    const call = client.callTool({ name: 'write_file', arguments: { path: target, content: 'approved text' } }, undefined, { timeout: 30_000 });
    const pending = await firstPendingApproval(dataDir);
    expect(fs.existsSync(target)).toBe(false);
    expect(pending.resource).toBe(target);
    expect(pending.riskFactors.map((f) => f.name)).toContain('tool_destructive_hint');
    const store = openSqliteStore(defaultDbPath(dataDir));
    await store.decideApproval({ approvalId: pending.approvalId, status: 'approved', decidedBy: 'alice', channel: 'cli', now: new Date().toISOString() });
    await store.close();
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(fs.readFileSync(target, 'utf8')).toBe('approved text');
  }, 30_000);

  it('a write approved with edits reaches the upstream as edited: the file holds the edited text', async () => {
    const { client, files, dataDir } = await proxied();
    const target = path.join(files, 'draft.txt');
    const call = client.callTool({ name: 'write_file', arguments: { path: target, content: 'what the model wrote' } }, undefined, { timeout: 30_000 });
    const pending = await firstPendingApproval(dataDir);
    const store = openSqliteStore(defaultDbPath(dataDir));
    await store.decideApproval({ approvalId: pending.approvalId, status: 'approved', decidedBy: 'alice', channel: 'cli', edits: [{ path: ['content'], value: 'what the person approved' }], now: new Date().toISOString() });
    await store.close();
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(fs.readFileSync(target, 'utf8')).toBe('what the person approved');
  }, 30_000);

  it('fronts a streamable HTTP upstream too (--url)', async () => {
    const effects: string[] = [];
    const upstream = new McpServer({ name: 'tickets', version: '1' });
    upstream.registerTool('close_ticket', { inputSchema: { id: z.string() }, annotations: { destructiveHint: true } }, async ({ id }) => (effects.push(id), { content: [{ type: 'text', text: `closed ${id}` }] }));
    upstream.registerTool('get_ticket', { inputSchema: { id: z.string() } }, async ({ id }) => ({ content: [{ type: 'text', text: `ticket ${id}` }] }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() });
    await upstream.connect(transport);
    const http = createServer((req, res) => void transport.handleRequest(req, res));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => http.close(r)), () => upstream.close());
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;

    const dir = tempDir('ascend-mcp-proxy-http-');
    const policy = writePolicy(dir, 'version: 1\ndefault: deny\nrules:\n  - id: reads\n    actions: ["mcp.tickets.get_*"]\n    effect: allow\n');
    const client = new Client({ name: 'desktop-client', version: '1' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: ['--import', TSX_IMPORT, CLI_MAIN, 'mcp-proxy', '--url', url, '--name', 'tickets', '--policy', policy, '--data-dir', path.join(dir, '.ascend')],
        env: { ...process.env, ASCEND_LOG_LEVEL: 'warn' } as Record<string, string>,
        cwd: dir,
      }),
    );
    cleanups.push(() => client.close());
    expect(text(await client.callTool({ name: 'get_ticket', arguments: { id: 'T-1' } }))).toBe('ticket T-1');
    const refused = await client.callTool({ name: 'close_ticket', arguments: { id: 'T-1' } });
    expect(refused.isError).toBe(true);
    expect(effects).toEqual([]);
  }, 30_000);

  it("the wrapped server gets the proxy's environment (its tokens, proxy settings), without Ascend's own variables", async () => {
    const dir = tempDir('ascend-mcp-proxy-env-');
    const server = path.join(dir, 'env-server.mjs');
    // An upstream whose one tool answers with the variables it was started with.
    fs.writeFileSync(
      server,
      `import { McpServer } from ${JSON.stringify(import.meta.resolve('@modelcontextprotocol/sdk/server/mcp.js'))};
import { StdioServerTransport } from ${JSON.stringify(import.meta.resolve('@modelcontextprotocol/sdk/server/stdio.js'))};
const server = new McpServer({ name: 'env', version: '1' });
server.registerTool('show_env', { description: 'env' }, async () => ({
  content: [{ type: 'text', text: JSON.stringify({ token: process.env.MY_TOKEN ?? null, proxy: process.env.HTTPS_PROXY ?? null, ascend: Object.keys(process.env).filter((k) => k.startsWith('ASCEND_')) }) }],
}));
await server.connect(new StdioServerTransport());
`,
    );
    const policy = writePolicy(dir, 'version: 1\ndefault: deny\nrules:\n  - id: show\n    actions: ["mcp.env.show_env"]\n    effect: allow\n');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', TSX_IMPORT, CLI_MAIN, 'mcp-proxy', '--name', 'env', '--policy', policy, '--data-dir', path.join(dir, '.ascend'), '--', process.execPath, server],
      env: { ...process.env, ASCEND_LOG_LEVEL: 'warn', ASCEND_WEBHOOK_SECRET_FOR_TEST: 'not for the upstream', MY_TOKEN: 'abc', HTTPS_PROXY: 'http://proxy.example:3128' } as Record<string, string>,
      cwd: dir,
      stderr: 'pipe',
    });
    const client = new Client({ name: 'desktop-client', version: '1' }, { capabilities: {} });
    await client.connect(transport);
    cleanups.push(() => client.close());
    const seen = JSON.parse(text(await client.callTool({ name: 'show_env', arguments: {} }))) as { token: string; proxy: string; ascend: string[] };
    expect(seen).toEqual({ token: 'abc', proxy: 'http://proxy.example:3128', ascend: [] });
  }, 30_000);

  it('closing the client ends the proxy and the upstream server', async () => {
    const { client, transport } = await proxied();
    const pid = (transport as unknown as { pid: number | null }).pid;
    expect(pid).toBeGreaterThan(0);
    await client.close();
    await eventually(() => {
      try {
        process.kill(pid!, 0);
        return false;
      } catch {
        return true;
      }
    }, 10_000);
  }, 30_000);
});
