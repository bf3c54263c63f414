/**
 * `ascend-sdk/server`: run the HTTP API in your own process (the `ascend serve` command uses the
 * same pieces).
 */
export { buildServer, type AscendServer, type AscendServerOptions } from './app.js';
export { startServer, type RunningServer, type StartServerOptions } from './serve.js';
export { generateApiKey, keyIdOf, type ApiKeySpec, type NewApiKey } from './api-keys.js';
export { parseDatabaseTarget, openDatabase, type DatabaseTarget } from './database.js';
export { DEFAULT_ORG, qualifyAgentId, orgOfAgentId } from './tenant-store.js';
