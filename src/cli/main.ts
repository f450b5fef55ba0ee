// Entry of the `writ` command: global flags, command dispatch, exit codes.
import { parseArgs } from 'node:util';
import { WRIT_VERSION, WritError } from '../core/index.js';
import { CliErrors } from './errors.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { createOutput } from './output.js';
import type { CliEnv, CommandSpec, OptionSpec } from './command.js';
import { REMOTE_OPTIONS } from './remote.js';
import { initCommand } from './commands/init.js';
import { serveCommand } from './commands/serve.js';
import { mcpCommand } from './commands/mcp.js';
import { ingestCommand } from './commands/ingest.js';
import { searchCommand } from './commands/search.js';
import { sessionCommand } from './commands/session.js';
import { proposeCommand } from './commands/propose.js';
import { decideCommand } from './commands/decide.js';
import { approveCommand } from './commands/approve.js';
import { executeCommand } from './commands/execute.js';
import { auditCommand } from './commands/audit.js';
import { policyCommand } from './commands/policy.js';
import { keysCommand } from './commands/keys.js';
import { reindexCommand } from './commands/reindex.js';
import { backupCommand } from './commands/backup.js';

export { EXIT } from './exit-codes.js';

/** Every command, in the order `writ --help` lists them (docs/cli.md documents each). */
export const COMMANDS: readonly CommandSpec[] = [
  initCommand,
  serveCommand,
  mcpCommand,
  ingestCommand,
  searchCommand,
  sessionCommand,
  proposeCommand,
  decideCommand,
  approveCommand,
  executeCommand,
  auditCommand,
  policyCommand,
  keysCommand,
  reindexCommand,
  backupCommand,
];

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show help' },
  version: { type: 'boolean', short: 'v', description: 'print the version' },
  json: { type: 'boolean', description: 'print one JSON document on stdout (for machines)' },
};

const VALUE_OPTIONS = new Set(
  [...Object.entries(GLOBAL_OPTIONS), ...Object.entries(REMOTE_OPTIONS)].filter(([, o]) => o.type === 'string').flatMap(([n, o]) => [`--${n}`, ...(o.short ? [`-${o.short}`] : [])]),
);

/** Index of the command name: the first positional, skipping values of options given before it (`writ --server URL search …`). */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (!a.startsWith('-')) return i;
    if (VALUE_OPTIONS.has(a)) i++;
  }
  return -1;
}

function formatOptions(options: Record<string, OptionSpec>): string {
  const rows = Object.entries(options).map(([name, spec]) => [`  ${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ' VALUE' : ''}`, spec.description] as const);
  const width = Math.max(28, ...rows.map(([label]) => label.length + 2));
  return rows.map(([label, description]) => label.padEnd(width) + description).join('\n');
}

function mainHelp(): string {
  return [
    `writ ${WRIT_VERSION}: bounded, permission-aware context for AI agents, and the authority between their proposals and real state`,
    '',
    'Usage: writ COMMAND [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(12)}${c.summary}`),
    '',
    'Global options:',
    formatOptions(GLOBAL_OPTIONS),
    '',
    'Remote mode: --server URL (or env WRIT_SERVER) with the key in env WRIT_KEY; otherwise the local home (env WRIT_HOME).',
    '',
    'Exit codes: 0 ok, 1 failure, 2 invalid input, 3 denied, 4 not found, 5 needs approval, 130 interrupted',
    'Run `writ COMMAND --help` for a command\'s options.',
  ].join('\n');
}

function commandHelp(cmd: CommandSpec): string {
  return [`Usage: ${cmd.usage}`, '', cmd.summary, '', 'Options:', formatOptions({ ...cmd.options, ...GLOBAL_OPTIONS })].join('\n');
}

/**
 * Runs the CLI with `argv` (without `node` and the script) and returns the exit code.
 *
 * @example
 * process.exitCode = await main(['--version']);
 */
export async function main(
  argv: readonly string[],
  io: { stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream; env?: CliEnv } = {},
): Promise<ExitCode> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const json = argv.includes('--json');
  const out = createOutput(json, stdout, stderr);
  const at = commandIndex(argv);
  const name = at === -1 ? undefined : argv[at];
  const cmd = COMMANDS.find((c) => c.name === name);
  try {
    if (cmd === undefined) {
      const { values } = parseArgs({ args: [...argv], options: GLOBAL_OPTIONS, allowPositionals: true, strict: name === undefined });
      if (values.version) {
        out.result({ version: WRIT_VERSION }, `writ ${WRIT_VERSION}`);
        return EXIT.OK;
      }
      if (name !== undefined) throw new WritError(CliErrors.CLI_USAGE, `unknown command \`${name}\`: run \`writ --help\``);
      out.result({ commands: COMMANDS.map((c) => ({ name: c.name, summary: c.summary, usage: c.usage })) }, mainHelp());
      return values.help ? EXIT.OK : EXIT.INVALID_INPUT;
    }
    const rest = argv.filter((_, i) => i !== at);
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: { ...cmd.options, ...GLOBAL_OPTIONS }, allowPositionals: true, strict: true });
    } catch (err) {
      throw new WritError(CliErrors.CLI_USAGE, `${(err as Error).message.split('\n')[0]?.replace(/\.$/, '').toLowerCase()}: run \`writ ${cmd.name} --help\``);
    }
    if (parsed.values.help) {
      out.result({ name: cmd.name, usage: cmd.usage, summary: cmd.summary }, commandHelp(cmd));
      return EXIT.OK;
    }
    return await cmd.run({ values: parsed.values, positionals: parsed.positionals, out, env, stderr });
  } catch (err) {
    return out.error(err);
  }
}
