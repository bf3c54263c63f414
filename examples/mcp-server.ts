/**
 * An MCP server whose tools are governed by Ascend — run it from any MCP client over stdio:
 *
 *   npx tsx examples/mcp-server.ts            (policy: ./ascend.policy.yaml or ASCEND_POLICY)
 *
 * `notes_read` is allowed, `notes_delete` is denied, `notes_write` needs a person: asked of the
 * MCP client's user by elicitation when the client supports it, else an Ascend approval
 * (`ascend approvals approve ID`). Logs go to stderr; stdout is the MCP channel.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { AscendClient } from '../src/index.js';
import { governMcpServer } from '../integrations/mcp/index.js';

const dataDir = process.env.ASCEND_DATA_DIR ?? path.join(os.tmpdir(), 'ascend-mcp-example');
const policy = process.env.ASCEND_POLICY ?? path.join(dataDir, 'policy.yaml');
if (!fs.existsSync(policy)) {
  fs.mkdirSync(path.dirname(policy), { recursive: true });
  fs.writeFileSync(
    policy,
    `version: 1
default: deny
rules:
  - id: reads
    actions: ["mcp.notes.notes_read"]
    effect: allow
  - id: no-deletes
    actions: ["mcp.notes.notes_delete"]
    effect: deny
    reason: Notes are never deleted by an agent
  - id: writes-need-a-person
    actions: ["mcp.notes.notes_write"]
    effect: require_approval
`,
  );
}
const ascend = new AscendClient({ agentId: 'notes-server', policy, dataDir, logLevel: 'warn' });
const notes = new Map<string, string>([['welcome', 'Hello from a governed MCP server']]);

const server = governMcpServer(new McpServer({ name: 'notes', version: '1.0.0' }), ascend, () => ({ resource: (args) => String(args.name ?? '') }), {
  approvalTimeoutSeconds: 120,
});
server.registerTool('notes_read', { description: 'Read a note', inputSchema: { name: z.string() }, annotations: { readOnlyHint: true } }, async ({ name }) => ({
  content: [{ type: 'text', text: notes.get(name) ?? `no note "${name}"` }],
}));
server.registerTool('notes_write', { description: 'Write a note', inputSchema: { name: z.string(), text: z.string() } }, async ({ name, text }) => {
  notes.set(name, text);
  return { content: [{ type: 'text', text: `saved "${name}"` }] };
});
server.registerTool('notes_delete', { description: 'Delete a note', inputSchema: { name: z.string() }, annotations: { destructiveHint: true } }, async ({ name }) => {
  notes.delete(name);
  return { content: [{ type: 'text', text: `deleted "${name}"` }] };
});

await server.connect(new StdioServerTransport());
process.stdin.once('end', () => void ascend.close());
