// Reading flag values and positionals with clear CLI_USAGE errors.
import { WritError } from '../core/index.js';
import type { CommandContext } from './command.js';
import { CliErrors } from './errors.js';

function usage(ctx: { command: string }, message: string): WritError {
  return new WritError(CliErrors.CLI_USAGE, `${message}: run \`writ ${ctx.command} --help\``);
}

/** Typed access to one command's flags and positionals. */
export interface Args {
  string(name: string): string | undefined;
  /** A required string flag. */
  need(name: string): string;
  /** A repeatable flag's values (also splits `a,b`). */
  list(name: string): string[];
  bool(name: string): boolean;
  int(name: string, options?: { min?: number; max?: number }): number | undefined;
  /** The positional at `index`, required. */
  positional(index: number, what: string): string;
  /** The subcommand (first positional), one of `choices`. */
  sub<T extends string>(choices: readonly T[]): T;
}

/** Reads `ctx` for the command named `command` (used in usage messages). */
export function argsOf(ctx: CommandContext, command: string): Args {
  const where = { command };
  const raw = (name: string) => ctx.values[name];
  return {
    string(name) {
      const v = raw(name);
      if (Array.isArray(v)) return v.length === 0 ? undefined : String(v[v.length - 1]);
      return typeof v === 'string' ? v : undefined;
    },
    need(name) {
      const v = this.string(name);
      if (v === undefined || v === '') throw usage(where, `missing \`--${name}\``);
      return v;
    },
    list(name) {
      const v = raw(name);
      const items = v === undefined ? [] : Array.isArray(v) ? v : [v];
      return items.flatMap((x) => String(x).split(',')).map((x) => x.trim()).filter((x) => x !== '');
    },
    bool(name) {
      return raw(name) === true;
    },
    int(name, options = {}) {
      const v = this.string(name);
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < (options.min ?? Number.MIN_SAFE_INTEGER) || n > (options.max ?? Number.MAX_SAFE_INTEGER)) {
        throw usage(where, `\`--${name}\` must be an integer${options.min !== undefined ? ` ≥ ${options.min}` : ''}${options.max !== undefined ? ` ≤ ${options.max}` : ''}, not \`${v}\``);
      }
      return n;
    },
    positional(index, what) {
      const v = ctx.positionals[index];
      if (v === undefined || v === '') throw usage(where, `missing ${what}`);
      return v;
    },
    sub(choices) {
      const v = ctx.positionals[0];
      if (v === undefined) throw usage(where, `missing subcommand (one of ${choices.map((c) => `\`${c}\``).join(', ')})`);
      if (!(choices as readonly string[]).includes(v)) throw usage(where, `unknown subcommand \`${v}\` (one of ${choices.map((c) => `\`${c}\``).join(', ')})`);
      return v as (typeof choices)[number];
    },
  };
}

/** Rejects positionals beyond `max` (a typo should not be ignored). */
export function noExtraPositionals(ctx: CommandContext, command: string, max: number): void {
  if (ctx.positionals.length > max) throw usage({ command }, `unexpected argument \`${ctx.positionals[max]}\``);
}
