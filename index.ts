// Writ's public library entry. What is exported here is the supported API; everything
// else is internal and may change (package.json `exports` keeps deep imports out).
export * from './src/core/index.js';
export { openStore, StoreErrors, type Store, type Migration } from './src/store/index.js';
export { createApp, HealthSchema, VersionSchema, type WritApp, type Health, type Version, type AppOptions } from './src/app.js';
export { rotateSigningKey, type SigningKeyRotation } from './src/signing-keys.js';
export { buildServer, ServerErrors, type ServerOptions } from './src/server/index.js';
export { main as runCli, EXIT } from './src/cli/main.js';
export { CliErrors } from './src/cli/errors.js';
export { createMcpServer, createLocalBackend, createHttpBackend, serveMcpStdio, McpErrors, TOOLS as MCP_TOOLS, type McpBackend, type McpStdioOptions } from './src/mcp/index.js';
export * from './src/retrieval/index.js';
export * from './src/broker/index.js';
export * from './src/ledger/index.js';
