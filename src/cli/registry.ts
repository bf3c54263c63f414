/**
 * Every `ascend` command, in the order `ascend --help` lists them.
 */
import type { TopLevelEntry } from './command.js';
import { agentsGroup } from './commands/agents.js';
import { approvalsGroup } from './commands/approvals.js';
import { auditGroup } from './commands/audit.js';
import { grantsGroup } from './commands/grants.js';
import { initCommand } from './commands/init.js';
import { keysGroup } from './commands/keys.js';
import { mcpProxyCommand } from './commands/mcp-proxy.js';
import { policyGroup } from './commands/policy.js';
import { webhooksGroup } from './commands/webhooks.js';
import { serveCommand } from './commands/serve.js';
import { uiCommand } from './commands/ui.js';

/** The command tree. */
export const COMMANDS: readonly TopLevelEntry[] = [initCommand, policyGroup, approvalsGroup, grantsGroup, agentsGroup, auditGroup, serveCommand, uiCommand, keysGroup, webhooksGroup, mcpProxyCommand];
