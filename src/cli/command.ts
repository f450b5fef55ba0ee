// The shape of one `writ` command; each lives in its own file under commands/.
import type { ParseArgsConfig } from 'node:util';
import type { ExitCode } from './exit-codes.js';
import type { Output } from './output.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & { description: string };

/** Environment the CLI reads (WRIT_* config, `WRIT_SERVER`, `WRIT_KEY`); injectable for tests. */
export type CliEnv = Readonly<Record<string, string | undefined>>;

export interface CommandContext {
  /** Parsed flag values. */
  readonly values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  /** Positional arguments after the command name. */
  readonly positionals: readonly string[];
  readonly out: Output;
  /** The environment: config variables, `WRIT_SERVER`, `WRIT_KEY`. */
  readonly env: CliEnv;
  /** Where progress goes (a TTY gets a single updating line). */
  readonly stderr: NodeJS.WritableStream;
}

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: Record<string, OptionSpec>;
  run(ctx: CommandContext): Promise<ExitCode>;
}
