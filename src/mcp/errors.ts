// Error codes of the MCP server (`writ mcp`).
import { defineErrors } from '../core/index.js';

export const McpErrors = defineErrors('mcp', {
  MCP_REMOTE_FAILED: {
    status: 502,
    meaning: 'the Writ server named by `--server` could not be reached or gave an answer that is not a Writ response',
    fix: 'check the URL and that `writ serve` is running there (`curl URL/health`)',
  },
});
