/**
 * Governing an `McpServer`'s tools where the MCP SDK keeps them. Every way the SDK registers a
 * tool (`registerTool`, each `tool(...)` overload, the experimental `registerToolTask`) stores a
 * `RegisteredTool` in the server's `_registeredTools` record, every `tools/call` reads the
 * stored `handler`, and `RegisteredTool#update({ callback })` writes it. Governing at that record
 * rather than at the public methods covers tools registered before governing, handlers swapped
 * later, renamed tools, and registration methods a later SDK adds. The SDK gives no public hook
 * for this, so the record's shape is checked and an SDK that keeps its tools elsewhere is
 * refused loudly rather than left ungoverned.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ValidationError } from '../../src/core/errors.js';

/** A tool handler as the SDK stores it: a function, or a task handler object (`createTask`, …). */
type StoredHandler = unknown;

/** Turns a tool's stored handler into the one the SDK calls. */
export type HandlerGovernor = (handler: StoredHandler) => StoredHandler;

/** For a tool name: how its handler is governed, or `false` to leave it ungoverned (deliberately). */
export type GovernorFor = (toolName: string) => HandlerGovernor | false;

interface StoredTool {
  handler: StoredHandler;
}

/** What governing knows of one stored tool: its handler as registered, and how it is governed. */
interface Slot {
  raw: StoredHandler;
  name: string;
  governor: HandlerGovernor | false;
  governed?: { raw: StoredHandler; handler: StoredHandler };
}

const slots = new WeakMap<object, Slot>();
const wrappers = new WeakMap<object, StoredHandler>(); // governed handler → the handler it governs
const governedRegistries = new WeakSet<object>();

function isStoredTool(value: unknown): value is StoredTool {
  return typeof value === 'object' && value !== null && 'handler' in value;
}

/**
 * A tool record of an MCP SDK older than 1.24, which kept the handler as `callback`: governing
 * `handler` would govern nothing there, so such a record is refused, never passed over.
 */
function isOlderToolRecord(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !('handler' in value) && 'callback' in value;
}

function refuseOlderSdk(): ValidationError {
  return new ValidationError('governMcpServer needs @modelcontextprotocol/sdk 1.24 or later (this one keeps tool handlers where Ascend cannot govern them): upgrade it, or govern each handler with mcpGovernance', [
    { path: 'server', message: 'an McpServer from an MCP SDK older than 1.24' },
  ]);
}

/** A task-based tool (`registerToolTask`): its work runs after the call returns a task. */
function isTaskHandler(handler: StoredHandler): boolean {
  return typeof handler === 'object' && handler !== null && 'createTask' in handler;
}

function refuseTaskTools(names: string[]): ValidationError {
  const list = names.map((n) => `"${n}"`).join(', ');
  return new ValidationError(
    `governMcpServer cannot govern task-based tools (${list}): their work runs after the call has returned a task, so a decision and an outcome cannot be recorded for it. Map them to false to leave them ungoverned deliberately.`,
    names.map((name) => ({ path: `tools.${name}`, message: 'a task-based tool (registerToolTask) cannot be governed' })),
  );
}

function governedHandler(slot: Slot): StoredHandler {
  if (slot.governor === false || typeof slot.raw !== 'function') return slot.raw;
  if (!slot.governed || slot.governed.raw !== slot.raw) {
    const handler = slot.governor(slot.raw);
    if (typeof handler === 'object' || typeof handler === 'function') wrappers.set(handler as object, slot.raw);
    slot.governed = { raw: slot.raw, handler };
  }
  return slot.governed.handler;
}

/** Put a stored tool under governance by the name it is stored under (again on a rename). */
function adopt(name: string, tool: StoredTool, governorFor: GovernorFor): void {
  const known = slots.get(tool);
  const governor = governorFor(name);
  const raw = known ? known.raw : tool.handler;
  if (governor !== false && isTaskHandler(raw)) throw refuseTaskTools([name]);
  if (known) {
    // A rename: the action type follows the name, and so does the map's choice.
    known.name = name;
    known.governor = governor;
    delete known.governed;
    return;
  }
  const slot: Slot = { raw, name, governor };
  slots.set(tool, slot);
  Object.defineProperty(tool, 'handler', {
    configurable: true,
    enumerable: true,
    get: () => governedHandler(slot),
    set: (handler: StoredHandler) => {
      // `update({ callback })`, or a direct write: the new handler is governed the same way.
      const unwrapped = (typeof handler === 'object' || typeof handler === 'function') && handler !== null && wrappers.has(handler) ? wrappers.get(handler) : handler;
      if (slot.governor !== false && isTaskHandler(unwrapped)) throw refuseTaskTools([slot.name]);
      slot.raw = unwrapped;
    },
  });
}

/**
 * Govern every tool of `server`, those already registered and every one stored later, by the
 * name it is stored under. Throws, changing nothing, when the server is governed already, when
 * the SDK keeps its tools where this cannot reach, or when a task-based tool would be governed.
 */
export function governToolRegistry(server: McpServer, governorFor: GovernorFor): void {
  const internals = server as unknown as { _registeredTools?: unknown };
  const registry = internals._registeredTools;
  if (typeof registry !== 'object' || registry === null || Array.isArray(registry) || registry instanceof Map) {
    throw new ValidationError('governMcpServer: this version of the MCP SDK does not keep its tools where Ascend can govern them; govern each handler with mcpGovernance instead', [
      { path: 'server', message: 'an McpServer without a _registeredTools record' },
    ]);
  }
  if (governedRegistries.has(registry)) {
    throw new ValidationError('governMcpServer: this server is governed already', [{ path: 'server', message: 'governMcpServer was called on this server before' }]);
  }
  const tools = registry as Record<string, unknown>;
  if (Object.values(tools).some(isOlderToolRecord)) throw refuseOlderSdk();
  const existing = Object.entries(tools).filter((entry): entry is [string, StoredTool] => isStoredTool(entry[1]));
  const choices = existing.map(([name, tool]) => [name, tool, governorFor(name)] as const);
  const tasks = choices.filter(([, tool, governor]) => governor !== false && isTaskHandler(tool.handler)).map(([name]) => name);
  if (tasks.length > 0) throw refuseTaskTools(tasks);
  for (const [name, tool, governor] of choices) adopt(name, tool, () => governor);

  const governed = new Proxy(tools, {
    set(target, key, value) {
      if (isOlderToolRecord(value)) throw refuseOlderSdk();
      if (typeof key === 'string' && isStoredTool(value)) adopt(key, value, governorFor);
      target[key as string] = value;
      return true;
    },
  });
  governedRegistries.add(governed);
  governedRegistries.add(registry);
  internals._registeredTools = governed;
}

/** The name an `McpServer` gives itself (`new McpServer({ name, version })`), if it can be read. */
export function serverNameOf(server: McpServer | undefined): string | undefined {
  const info = (server?.server as unknown as { _serverInfo?: { name?: unknown } } | undefined)?._serverInfo;
  return typeof info?.name === 'string' && info.name !== '' ? info.name : undefined;
}
