/**
 * The governed MCP proxy (`ascend mcp-proxy`): governance in front of an existing MCP server,
 * unchanged. Downstream it is an MCP server (stdio, as desktop clients launch servers); upstream
 * it is a client of the real server (a stdio command or a streamable HTTP URL). Tools, resources
 * and prompts are forwarded; `tools/call` is governed — action type `mcp.<name>.<tool>`, the
 * resource taken from the arguments, the tool's annotations in the risk score — and upstream
 * errors pass through as they are. Upstream elicitation requests and list-changed
 * notifications are relayed; closing either side shuts the other (and the child) down.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CallToolRequestSchema,
  ElicitRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  ToolListChangedNotificationSchema,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { isRefusal } from '../../src/client/govern.js';
import { governedCall, refusalMessage } from '../shared.js';
import { elicitingApprover, errorResult, textOf, ToolReportedError, type CallToolResultLike, type GovernsCalls, type MCPGovernanceConfig } from './index.js';

/** Where the real server is. */
export type Upstream = { command: string; args?: string[]; env?: Record<string, string>; cwd?: string } | { url: string };

/** Options of {@link startMcpProxy}. */
export interface McpProxyOptions {
  upstream: Upstream;
  /** The Ascend client that decides (embedded or remote). */
  client: GovernsCalls;
  /** The `<name>` in `mcp.<name>.<tool>`. */
  name: string;
  /** Argument names whose value is the call's resource, first present wins. Default: path, uri, url, file, resource, table, to. */
  resourceArgs?: string[];
  config?: MCPGovernanceConfig;
  /** Where downstream clients talk to the proxy (stdio for `ascend mcp-proxy`). */
  downstream: Transport;
}

/** A running proxy. */
export interface McpProxy {
  /** Stop: close both sides; a stdio upstream's child process ends. */
  close(): Promise<void>;
  /** Resolves when either side has closed (and the proxy with it). */
  closed: Promise<void>;
}

const DEFAULT_RESOURCE_ARGS = ['path', 'uri', 'url', 'file', 'resource', 'table', 'to'];

function resourceOf(args: Record<string, unknown>, names: readonly string[]): string {
  for (const name of names) {
    const value = args[name];
    if (typeof value === 'string' && value !== '') return value;
    if (Array.isArray(value) && typeof value[0] === 'string') return value.join(',');
  }
  return '';
}

/** Connect upstream, then serve downstream. */
export async function startMcpProxy(options: McpProxyOptions): Promise<McpProxy> {
  const upstreamTransport: Transport =
    'url' in options.upstream
      ? new StreamableHTTPClientTransport(new URL(options.upstream.url))
      : new StdioClientTransport({
          command: options.upstream.command,
          args: options.upstream.args ?? [],
          env: { ...getDefaultEnvironment(), ...options.upstream.env },
          ...(options.upstream.cwd ? { cwd: options.upstream.cwd } : {}),
          stderr: 'inherit',
        });
  const upstream = new Client({ name: `ascend-mcp-proxy (${options.name})`, version: '1' }, { capabilities: { elicitation: { form: {} } } });
  await upstream.connect(upstreamTransport);

  const capabilities = upstream.getServerCapabilities() ?? {};
  const info = upstream.getServerVersion();
  const server = new Server(
    { name: info?.name ?? options.name, version: info?.version ?? '0' },
    {
      capabilities: {
        ...(capabilities.tools ? { tools: { listChanged: true } } : {}),
        ...(capabilities.resources ? { resources: { listChanged: capabilities.resources.listChanged ?? false } } : {}),
        ...(capabilities.prompts ? { prompts: { listChanged: capabilities.prompts.listChanged ?? false } } : {}),
      },
      ...(upstream.getInstructions() ? { instructions: upstream.getInstructions()! } : {}),
    },
  );

  const tools = new Map<string, Tool>();
  const resourceArgs = options.resourceArgs ?? DEFAULT_RESOURCE_ARGS;

  if (capabilities.tools) {
    server.setRequestHandler(ListToolsRequestSchema, async (request, extra) => {
      const result = await upstream.listTools(request.params, { signal: extra.signal });
      for (const tool of result.tools) tools.set(tool.name, tool);
      return result;
    });
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const name = request.params.name;
      const args = (request.params.arguments ?? {}) as Record<string, unknown>;
      if (!tools.has(name)) for (const tool of (await upstream.listTools()).tools) tools.set(tool.name, tool);
      const annotations = tools.get(name)?.annotations;
      const call = governedCall(`mcp.${options.name}.${name}`, args, {
        resource: (copied) => resourceOf(copied, resourceArgs),
        ...(annotations ? { context: { toolAnnotations: annotations } } : {}),
        ...(options.config?.approvalTimeoutSeconds ? { approvalTimeoutMs: options.config.approvalTimeoutSeconds * 1000 } : {}),
      }, extra.signal);
      call.summarize = textOf;
      call.onApprovalRequired = elicitingApprover(server, options.config ?? {}, name, extra.signal);
      try {
        return await options.client.govern(call, async (_decision, evaluated) => {
          // Upstream gets the arguments as evaluated, not the client's original object.
          const result = (await upstream.callTool({ ...request.params, arguments: evaluated }, undefined, { signal: extra.signal })) as CallToolResultLike;
          if (result.isError) throw new ToolReportedError(result);
          return result;
        });
      } catch (err) {
        if (err instanceof ToolReportedError) return err.result;
        if (isRefusal(err)) return errorResult(refusalMessage(name, err)!);
        throw err; // an upstream error passes through as it is
      }
    });
    upstream.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      tools.clear();
      await server.sendToolListChanged();
    });
  }
  if (capabilities.resources) {
    server.setRequestHandler(ListResourcesRequestSchema, (request, extra) => upstream.listResources(request.params, { signal: extra.signal }));
    server.setRequestHandler(ListResourceTemplatesRequestSchema, (request, extra) => upstream.listResourceTemplates(request.params, { signal: extra.signal }));
    server.setRequestHandler(ReadResourceRequestSchema, (request, extra) => upstream.readResource(request.params, { signal: extra.signal }));
  }
  if (capabilities.prompts) {
    server.setRequestHandler(ListPromptsRequestSchema, (request, extra) => upstream.listPrompts(request.params, { signal: extra.signal }));
    server.setRequestHandler(GetPromptRequestSchema, (request, extra) => upstream.getPrompt(request.params, { signal: extra.signal }));
  }
  // The upstream server asks its user something: relay it to ours.
  upstream.setRequestHandler(ElicitRequestSchema, async (request, extra) => server.elicitInput(request.params, { signal: extra.signal }));

  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await server.close().catch(() => undefined);
      await upstream.close().catch(() => undefined);
      resolveClosed();
    })();
    return closing;
  };
  server.onclose = () => void close();
  upstream.onclose = () => void close();
  await server.connect(options.downstream);
  return { close, closed };
}
