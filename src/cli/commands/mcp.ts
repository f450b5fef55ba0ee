// `writ mcp`: the Model Context Protocol server for an agent, on stdio. stdout is the
// protocol, so this command prints nothing there; notes go to stderr.
import { readFileSync } from 'node:fs';
import { loadConfig, WritError } from '../../core/index.js';
import { CliErrors } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { REMOTE_OPTIONS, serverUrlOf } from '../remote.js';
import type { CommandContext, CommandSpec } from '../command.js';

/** The agent's key: `--key-file`, else `WRIT_KEY` (the MCP client's server config). Never a flag value. */
function agentKeyOf(ctx: CommandContext): string | undefined {
  const file = ctx.values['key-file'];
  if (typeof file !== 'string') return ctx.env.WRIT_KEY?.trim();
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (cause) {
    throw new WritError(CliErrors.CLI_USAGE, `cannot read key file \`${file}\`: ${(cause as Error).message}`, { cause });
  }
}

export const mcpCommand: CommandSpec = {
  name: 'mcp',
  summary: 'serve the agent tools (retrieve, propose, proposal_status) over MCP on stdio',
  usage: 'WRIT_KEY=writ_… writ mcp [--server URL] [--key-file FILE]',
  options: {
    ...REMOTE_OPTIONS,
    server: { type: 'string', description: 'proxy to the Writ server at URL (env WRIT_SERVER) instead of opening the local Writ home' },
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const serverUrl = serverUrlOf(ctx);
    const { serveMcpStdio } = await import('../../mcp/index.js');
    const mcp = await serveMcpStdio({
      key: agentKeyOf(ctx),
      serverUrl,
      ...(serverUrl === undefined ? { config: loadConfig({ env: ctx.env }) } : {}),
      onInfo: (line) => ctx.stderr.write(`${line}\n`),
    });
    await mcp.closed;
    return EXIT.OK;
  },
};
