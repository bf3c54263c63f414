/**
 * `ascend mcp-proxy`: put governance in front of any MCP server without changing it. Speaks MCP
 * on stdio (its stdout is the protocol: logs go to stderr). The MCP SDK is loaded only here.
 */
import path from 'node:path';
import { AscendClient } from '../../client/client.js';
import type { CommandSpec } from '../command.js';
import { UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';

export const mcpProxyCommand: CommandSpec = {
  name: 'mcp-proxy',
  summary: 'govern an existing MCP server (stdio command or HTTP URL) for any MCP client',
  details:
    'Every tools/call is decided by Ascend (action type mcp.<name>.<tool>, resource from the arguments, tool annotations in the risk score); tools, resources and prompts are forwarded. Embedded by default (./ascend.policy.yaml, --data-dir); set ASCEND_API_URL and ASCEND_API_KEY to use a server. The server command gets the proxy\'s environment without its ASCEND_* variables.',
  options: {
    name: { type: 'string', valueName: 'NAME', description: 'the server name in action types (default: the command, or the URL host)' },
    url: { type: 'string', valueName: 'URL', description: 'a streamable HTTP MCP server instead of a command' },
    'agent-id': { type: 'string', valueName: 'ID', description: 'the agent id decisions are recorded under (default mcp-proxy.<name>)' },
    policy: { type: 'string', valueName: 'FILE', description: 'policy file (default ./ascend.policy.yaml)' },
    'resource-arg': { type: 'string', valueName: 'NAMES', description: 'argument names that hold the resource, comma-separated (default path,uri,url,file,resource,table,to)' },
    'approval-timeout': { type: 'string', valueName: 'SECONDS', description: 'how long a call waits for a person (default: the policy)' },
    elicitation: { type: 'string', valueName: 'off|N', description: 'ask the MCP client user up to risk N (default 69), or never' },
  },
  positionals: [],
  rest: { name: 'COMMAND...', description: 'the MCP server to run, after --' },
  examples: [
    'ascend mcp-proxy --name fs -- npx -y @modelcontextprotocol/server-filesystem /home/me/projects',
    'ascend mcp-proxy --url http://127.0.0.1:3001/mcp --name tickets',
  ],
  async run(ctx) {
    const command = ctx.rest();
    const url = ctx.string('url');
    if ((command.length === 0) === (url === undefined)) {
      throw new UsageError('give the MCP server to govern: either -- COMMAND [ARGS...] or --url URL', ctx.commandPath);
    }
    const name = ctx.string('name') ?? (url ? new URL(url).hostname : path.basename(command[command.length - 1] ?? command[0]!)).replace(/[^A-Za-z0-9_-]/g, '_');
    const timeoutText = ctx.string('approval-timeout');
    const timeout = timeoutText === undefined ? undefined : Number(timeoutText);
    if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0)) throw new UsageError('--approval-timeout must be a whole number of seconds', ctx.commandPath);
    const elicitationText = ctx.string('elicitation');
    const maxRisk = elicitationText === undefined || elicitationText === 'off' ? undefined : Number(elicitationText);
    if (maxRisk !== undefined && !(Number.isInteger(maxRisk) && maxRisk >= 0 && maxRisk <= 100)) {
      throw new UsageError('--elicitation must be off or a risk score 0–100', ctx.commandPath);
    }
    const policy = ctx.string('policy');
    const client = new AscendClient({
      agentId: ctx.string('agent-id') ?? `mcp-proxy.${name}`,
      dataDir: ctx.dataDir,
      ...(policy ? { policy: path.resolve(ctx.io.cwd, policy) } : {}),
      logLevel: (ctx.io.env.ASCEND_LOG_LEVEL as 'info' | undefined) ?? 'warn',
    });
    let modules;
    try {
      modules = await Promise.all([import('../../../integrations/mcp/proxy.js'), import('@modelcontextprotocol/sdk/server/stdio.js')]);
    } catch (err) {
      await client.close();
      if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
        throw new UsageError('mcp-proxy needs the MCP SDK: npm install @modelcontextprotocol/sdk', ctx.commandPath);
      }
      throw err;
    }
    const [{ startMcpProxy }, { StdioServerTransport }] = modules;
    const resourceArgs = ctx.string('resource-arg')?.split(',').map((s) => s.trim()).filter(Boolean);
    const proxy = await startMcpProxy({
      upstream: url ? { url } : { command: command[0]!, args: command.slice(1), cwd: ctx.io.cwd, env: upstreamEnvironment(ctx.io.env) },
      client,
      name,
      downstream: new StdioServerTransport(),
      ...(resourceArgs ? { resourceArgs } : {}),
      config: {
        ...(timeout ? { approvalTimeoutSeconds: timeout } : {}),
        elicitation: elicitationText === 'off' ? false : { maxRiskScore: maxRisk ?? 69 },
      },
    });
    const stop = (): void => void proxy.close();
    ctx.io.signal?.addEventListener('abort', stop, { once: true });
    process.stdin.once('end', stop); // the MCP client went away
    await proxy.closed;
    await client.close();
    return ExitCode.OK;
  },
};

/**
 * The wrapped server's environment: the proxy's, as if it were run directly (its tokens, proxy
 * and CA settings), without Ascend's own variables — the API key and signing secret that decide
 * its calls are not handed to it (hygiene: a server running as the same user can still read the
 * proxy's environment and files).
 */
export function upstreamEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !name.toUpperCase().startsWith('ASCEND_')) out[name] = value;
  }
  return out;
}
