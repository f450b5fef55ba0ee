// Front door of the MCP server: three tools (retrieve, propose, proposal_status) for an
// agent, over stdio, backed by a local Writ home or a running server.
export { McpErrors } from './errors.js';
export { TOOLS, TOOL_NAMES, RetrieveToolInputSchema, ProposeToolInputSchema, ProposalStatusToolInputSchema, toolInputJsonSchema } from './tools.js';
export type { ToolName, ToolDefinition, RetrieveToolInput, ProposeToolInput, ProposalStatusToolInput } from './tools.js';
export { createLocalBackend, MCP_SESSION_TTL_MS, type McpBackend, type McpIdentity } from './backend.js';
export { createHttpBackend, RemoteWritError, type HttpBackendOptions } from './http-backend.js';
export { createMcpServer, toolError } from './server.js';
export { serveMcpStdio, type McpStdioOptions, type McpStdioHandle } from './stdio.js';
