/**
 * Promise: every tool of a governed `McpServer` is governed, however it got there — each
 * `tool(...)` overload, `registerTool`, a handler swapped with `update({ callback })`, a renamed
 * or re-enabled tool, a tool registered before `governMcpServer` — and its default action type
 * carries the server's own name. A denied call never runs its handler, and every call leaves an
 * audit event. Driven through a real McpServer and Client over the SDK's in-memory transport,
 * decided by an embedded client on a real SQLite file.
 */
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/stores/in-memory.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { McpServer as OldMcpServer } from 'mcp-sdk-1-23/server/mcp.js';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { AscendClient, defaultDbPath, openSqliteStore, ValidationError } from '../../src/index.js';
import type { AuditEvent } from '../../src/core/types.js';
import { governMcpServer, type McpGovernOptions } from '../../integrations/mcp/index.js';
import { captureLogs, tempDir, writePolicy } from '../helpers.js';

/** Only tools named `allow_*` on the server named `notes` may run. */
const POLICY = `
version: 1
default: deny
rules:
  - id: allowed-notes-tools
    actions: ["mcp.notes.allow_*"]
    effect: allow
`;

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

function ascend(): { client: AscendClient; dataDir: string } {
  const dir = tempDir();
  const dataDir = path.join(dir, '.ascend');
  const client = new AscendClient({ agentId: 'mcp-agent', policy: writePolicy(dir, POLICY), dataDir, logDestination: captureLogs().destination });
  closers.push(() => client.close());
  return { client, dataDir };
}

async function connect(server: McpServer): Promise<Client> {
  const mcpClient = new Client({ name: 'desktop', version: '1.0.0' });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(serverSide), mcpClient.connect(clientSide)]);
  closers.push(() => mcpClient.close(), () => server.close());
  return mcpClient;
}

async function auditOf(client: AscendClient, dataDir: string): Promise<AuditEvent[]> {
  await client.flush();
  const store = openSqliteStore(defaultDbPath(dataDir));
  try {
    return await store.readAudit();
  } finally {
    await store.close();
  }
}

/** The action types decided, in order (from `action.evaluated` events). */
function decided(events: AuditEvent[]): Array<{ actionType: unknown; decision: unknown }> {
  return events.filter((e) => e.type === 'action.evaluated').map((e) => ({ actionType: e.data.actionType, decision: e.data.decision }));
}

function text(result: Awaited<ReturnType<Client['callTool']>>): string {
  return (result.content as Array<{ text?: string }>).map((c) => c.text ?? '').join(' ');
}

const schema = { note: z.string() };
const annotations = { readOnlyHint: true };

/**
 * Every registration method of the MCP SDK: `register(server, name, handler)` registers `name`
 * in one of the shapes the SDK accepts (with an input schema: the handler gets `(args, extra)`;
 * without: `(extra)`).
 */
const registrations: Array<{ shape: string; withArgs: boolean; register: (server: McpServer, name: string, handler: (...args: never[]) => unknown) => unknown }> = [
  { shape: 'tool(name, cb)', withArgs: false, register: (s, n, h) => s.tool(n, h as never) },
  { shape: 'tool(name, description, cb)', withArgs: false, register: (s, n, h) => s.tool(n, 'a note tool', h as never) },
  { shape: 'tool(name, paramsSchema, cb)', withArgs: true, register: (s, n, h) => s.tool(n, schema, h as never) },
  { shape: 'tool(name, annotations, cb)', withArgs: false, register: (s, n, h) => s.tool(n, annotations, h as never) },
  { shape: 'tool(name, description, paramsSchema, cb)', withArgs: true, register: (s, n, h) => s.tool(n, 'a note tool', schema, h as never) },
  { shape: 'tool(name, description, annotations, cb)', withArgs: false, register: (s, n, h) => s.tool(n, 'a note tool', annotations, h as never) },
  { shape: 'tool(name, paramsSchema, annotations, cb)', withArgs: true, register: (s, n, h) => s.tool(n, schema, annotations, h as never) },
  { shape: 'tool(name, description, paramsSchema, annotations, cb)', withArgs: true, register: (s, n, h) => s.tool(n, 'a note tool', schema, annotations, h as never) },
  { shape: 'registerTool(name, { inputSchema }, cb)', withArgs: true, register: (s, n, h) => s.registerTool(n, { description: 'a note tool', inputSchema: schema }, h as never) },
  { shape: 'registerTool(name, {}, cb)', withArgs: false, register: (s, n, h) => s.registerTool(n, { annotations }, h as never) },
];

/** A handler that records that it ran, under `label`. */
function handler(ran: string[], label: string) {
  return async () => (ran.push(label), { content: [{ type: 'text' as const, text: `${label} ran` }] });
}

describe('every tool of a governed McpServer is governed', () => {
  for (const { shape, withArgs, register } of registrations) {
    for (const when of ['after', 'before'] as const) {
      it(`${shape}, registered ${when} governMcpServer: a denied call never runs, an allowed one does, and both are audited as mcp.notes.<tool>`, async () => {
        const { client, dataDir } = ascend();
        const server = new McpServer({ name: 'notes', version: '1.0.0' });
        const ran: string[] = [];
        if (when === 'after') governMcpServer(server, client);
        register(server, 'deny_me', handler(ran, 'deny_me'));
        register(server, 'allow_me', handler(ran, 'allow_me'));
        if (when === 'before') governMcpServer(server, client);
        const mcpClient = await connect(server);
        const args = withArgs ? { note: 'hello' } : {};

        const denied = await mcpClient.callTool({ name: 'deny_me', arguments: args });
        expect(denied.isError).toBe(true);
        expect(text(denied)).toContain('Tool "deny_me" did not run');
        const allowed = await mcpClient.callTool({ name: 'allow_me', arguments: args });
        expect(allowed.isError).toBeFalsy();
        expect(text(allowed)).toBe('allow_me ran');

        expect(ran).toEqual(['allow_me']);
        const events = await auditOf(client, dataDir);
        expect(decided(events)).toEqual([
          { actionType: 'mcp.notes.deny_me', decision: 'denied' },
          { actionType: 'mcp.notes.allow_me', decision: 'allowed' },
        ]);
        expect(events.filter((e) => e.type === 'action.completed')).toHaveLength(1);
      });
    }
  }

  for (const { shape, register } of registrations.filter((r) => r.shape.startsWith('tool(name, cb)') || r.shape.startsWith('registerTool(name, { inputSchema }'))) {
    it(`${shape}: a handler swapped with update({ callback }) is governed too`, async () => {
      const { client, dataDir } = ascend();
      const server = new McpServer({ name: 'notes', version: '1.0.0' });
      governMcpServer(server, client);
      const ran: string[] = [];
      const registered = register(server, 'deny_me', handler(ran, 'original')) as ReturnType<McpServer['registerTool']>;
      registered.update({ callback: handler(ran, 'swapped') as never });
      const mcpClient = await connect(server);
      const args = shape.startsWith('tool(name, cb)') ? {} : { note: 'x' };
      const denied = await mcpClient.callTool({ name: 'deny_me', arguments: args });
      expect(denied.isError).toBe(true);
      expect(ran).toEqual([]);

      // Other updates, and swapping the handler back in, keep it governed.
      registered.update({ description: 'changed', annotations: { destructiveHint: true } });
      registered.disable();
      registered.enable();
      registered.update({ callback: registered.handler as never }); // its own governed handler: not governed twice
      expect((await mcpClient.callTool({ name: 'deny_me', arguments: args })).isError).toBe(true);
      expect(ran).toEqual([]);
      expect(decided(await auditOf(client, dataDir))).toEqual([
        { actionType: 'mcp.notes.deny_me', decision: 'denied' },
        { actionType: 'mcp.notes.deny_me', decision: 'denied' },
      ]);
    });
  }

  it('a tool registered before governMcpServer and swapped after is governed by its new handler', async () => {
    const { client, dataDir } = ascend();
    const server = new McpServer({ name: 'notes', version: '1.0.0' });
    const ran: string[] = [];
    const registered = server.tool('allow_me', schema, handler(ran, 'original') as never);
    governMcpServer(server, client);
    registered.update({ callback: handler(ran, 'swapped') as never });
    const mcpClient = await connect(server);
    expect(text(await mcpClient.callTool({ name: 'allow_me', arguments: { note: 'x' } }))).toBe('swapped ran');
    expect(ran).toEqual(['swapped']);
    expect(decided(await auditOf(client, dataDir))).toEqual([{ actionType: 'mcp.notes.allow_me', decision: 'allowed' }]);
  });

  it('a renamed tool is governed under its new name (the action type and the map follow the name)', async () => {
    const { client, dataDir } = ascend();
    const server = new McpServer({ name: 'notes', version: '1.0.0' });
    const ran: string[] = [];
    governMcpServer(server, client, { deny_me: false });
    const registered = server.registerTool('deny_me', { inputSchema: schema }, handler(ran, 'tool') as never);
    registered.update({ name: 'allow_renamed' });
    const mcpClient = await connect(server);
    expect(text(await mcpClient.callTool({ name: 'allow_renamed', arguments: { note: 'x' } }))).toBe('tool ran');
    expect(decided(await auditOf(client, dataDir))).toEqual([{ actionType: 'mcp.notes.allow_renamed', decision: 'allowed' }]);
    registered.update({ name: 'deny_renamed' });
    expect((await mcpClient.callTool({ name: 'deny_renamed', arguments: { note: 'y' } })).isError).toBe(true);
    expect(ran).toEqual(['tool']);
  });

  it('a tool the map marks false stays ungoverned, on purpose: it runs and no decision is recorded', async () => {
    const { client, dataDir } = ascend();
    const server = new McpServer({ name: 'notes', version: '1.0.0' });
    const ran: string[] = [];
    const byFunction = (name: string): McpGovernOptions | false | undefined => (name === 'deny_open' ? false : undefined);
    server.tool('deny_open', handler(ran, 'open') as never);
    governMcpServer(server, client, byFunction);
    server.tool('deny_me', handler(ran, 'governed') as never);
    const mcpClient = await connect(server);
    expect(text(await mcpClient.callTool({ name: 'deny_open' }))).toBe('open ran');
    expect((await mcpClient.callTool({ name: 'deny_me' })).isError).toBe(true);
    expect(ran).toEqual(['open']);
    expect(decided(await auditOf(client, dataDir))).toEqual([{ actionType: 'mcp.notes.deny_me', decision: 'denied' }]);
  });

  it("the default action type is the server's own name; an explicit serverName or actionType still wins", async () => {
    const { client, dataDir } = ascend();
    const server = new McpServer({ name: 'notes', version: '1.0.0' });
    governMcpServer(server, client, { allow_a: { serverName: 'other' }, allow_b: { actionType: 'mcp.notes.allow_custom' } });
    server.tool('allow_a', handler([], 'a') as never);
    server.tool('allow_b', handler([], 'b') as never);
    const mcpClient = await connect(server);
    expect((await mcpClient.callTool({ name: 'allow_a' })).isError).toBe(true); // mcp.other.allow_a: no rule allows it
    expect((await mcpClient.callTool({ name: 'allow_b' })).isError).toBeFalsy();
    expect(decided(await auditOf(client, dataDir))).toEqual([
      { actionType: 'mcp.other.allow_a', decision: 'denied' },
      { actionType: 'mcp.notes.allow_custom', decision: 'allowed' },
    ]);
  });

  it('a task-based tool (registerToolTask) cannot be governed: refused loudly, naming it, unless mapped to false', async () => {
    const { client } = ascend();
    const taskHandler = {
      createTask: async () => {
        throw new Error('never runs');
      },
      getTask: async () => {
        throw new Error('never runs');
      },
      getTaskResult: async () => {
        throw new Error('never runs');
      },
    };
    const before = new McpServer({ name: 'notes', version: '1.0.0' }, { taskStore: new InMemoryTaskStore() });
    before.experimental.tasks.registerToolTask('long_job', { inputSchema: schema }, taskHandler as never);
    const error = (() => {
      try {
        governMcpServer(before, client);
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect(String((error as Error).message)).toContain('"long_job"');
    expect(() => governMcpServer(before, client, { long_job: false })).not.toThrow();

    const after = governMcpServer(new McpServer({ name: 'notes', version: '1.0.0' }, { taskStore: new InMemoryTaskStore() }), client);
    expect(() => after.experimental.tasks.registerToolTask('later_job', { inputSchema: schema }, taskHandler as never)).toThrow(/"later_job"/);
    expect(Object.keys((after as unknown as { _registeredTools: object })._registeredTools)).toEqual([]); // not registered
  });

  it('governing a server twice is refused (handlers would be governed twice)', () => {
    const { client } = ascend();
    const server = governMcpServer(new McpServer({ name: 'notes', version: '1.0.0' }), client);
    expect(() => governMcpServer(server, client)).toThrow(ValidationError);
  });

  it('an McpServer of an MCP SDK older than 1.24 (handlers kept as `callback`) is refused, never left ungoverned', () => {
    const { client } = ascend();
    const before = new OldMcpServer({ name: 'notes', version: '1.0.0' });
    before.tool('notes_read', async () => ({ content: [{ type: 'text' as const, text: 'x' }] }));
    expect(() => governMcpServer(before as unknown as McpServer, client)).toThrow(/1\.24 or later/);
    // Governed while empty: the first registration is refused.
    const empty = governMcpServer(new OldMcpServer({ name: 'notes', version: '1.0.0' }) as unknown as McpServer, client) as unknown as OldMcpServer;
    expect(() => empty.tool('notes_read', async () => ({ content: [{ type: 'text' as const, text: 'x' }] }))).toThrow(/1\.24 or later/);
  });
});
