/**
 * The examples run, offline, as a newcomer would run them: each as its own process, checked for
 * what it promises to show. The MCP example is driven over stdio by the MCP SDK's own Client.
 */
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { ROOT, runNode, TSX_IMPORT, tempDir } from './helpers.js';

describe('examples', () => {
  it('npm run demo (examples/quickstart.ts): allow, deny, approval from another process, failure, verified audit', async () => {
    const r = await runNode('examples/quickstart.ts', []);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/denied/i);
    expect(r.stdout).toMatch(/approv/i);
    expect(r.stdout).toMatch(/verif/i);
  }, 60_000);

  it('examples/langchain-agent.ts: a refusal the model reads, a pause for approval, then the payment', async () => {
    const r = await runNode('examples/langchain-agent.ts', []);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('REFUSED: Tool "sql" did not run: Deleting rows is not allowed');
    expect(r.stdout).toContain('payments made: [2500]');
  }, 60_000);

  it('examples/ai-sdk-agent.ts: denial with reason, the app-UI approval recorded in Ascend', async () => {
    const r = await runNode('examples/ai-sdk-agent.ts', []);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('shell → REFUSED: This agent may not run shell commands');
    expect(r.stdout).toContain('side effects: ["paid 300"]');
    expect(r.stdout).toContain('recorded in Ascend: approved by app-user via app-ui; audit verified');
  }, 60_000);

  it('examples/mcp-server.ts over stdio: read allowed, delete denied, write approved by elicitation', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', TSX_IMPORT, path.join(ROOT, 'examples/mcp-server.ts')],
      env: { ...process.env, ASCEND_DATA_DIR: tempDir() } as Record<string, string>,
      stderr: 'pipe',
    });
    const client = new Client({ name: 'desktop', version: '1' }, { capabilities: { elicitation: { form: {} } } });
    let asked = 0;
    client.setRequestHandler(ElicitRequestSchema, async () => (asked++, { action: 'accept', content: { approve: true } }));
    await client.connect(transport);
    try {
      const text = (r: Record<string, unknown>) => (r.content as Array<{ text: string }>)[0]!.text;
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['notes_delete', 'notes_read', 'notes_write']);
      expect(text(await client.callTool({ name: 'notes_read', arguments: { name: 'welcome' } }))).toContain('Hello');
      const deleted = await client.callTool({ name: 'notes_delete', arguments: { name: 'welcome' } });
      expect(deleted.isError).toBe(true);
      expect(text(deleted)).toContain('Notes are never deleted');
      expect(text(await client.callTool({ name: 'notes_read', arguments: { name: 'welcome' } }))).toContain('Hello'); // still there
      const written = await client.callTool({ name: 'notes_write', arguments: { name: 'todo', text: 'ship it' } });
      expect(written.isError).toBeFalsy();
      expect(asked).toBe(1);
      expect(text(await client.callTool({ name: 'notes_read', arguments: { name: 'todo' } }))).toBe('ship it');
    } finally {
      await client.close();
    }
  }, 60_000);
});
