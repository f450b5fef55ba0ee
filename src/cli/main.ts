// Entry of the `writ` command: global flags, command dispatch, exit codes.
import { parseArgs } from 'node:util';
import { WRIT_VERSION, WritError } from '../core/index.js';
import { CliErrors } from './errors.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { createOutput } from './output.js';
import type { CommandSpec, OptionSpec } from './command.js';
import { serveCommand } from './commands/serve.js';

export { EXIT } from './exit-codes.js';

const COMMANDS: readonly CommandSpec[] = [serveCommand];

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show help' },
  version: { type: 'boolean', short: 'v', description: 'print the version' },
  json: { type: 'boolean', description: 'print one JSON document on stdout (for machines)' },
};

function formatOptions(options: Record<string, OptionSpec>): string {
  return Object.entries(options)
    .map(([name, spec]) => `  ${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ' VALUE' : ''}`.padEnd(28) + spec.description)
    .join('\n');
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
    'Exit codes: 0 ok, 1 failure, 2 invalid input, 3 denied, 4 not found, 5 needs approval',
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
export async function main(argv: readonly string[], io: { stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream } = {}): Promise<ExitCode> {
  const stdout = io.stdout ?? process.stdout;
  const json = argv.includes('--json');
  const out = createOutput(json, stdout, io.stderr ?? process.stderr);
  const name = argv.find((a) => !a.startsWith('-'));
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
    const rest = argv.filter((a) => a !== cmd.name);
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
    return await cmd.run({ values: parsed.values, positionals: parsed.positionals, out });
  } catch (err) {
    return out.error(err);
  }
}
