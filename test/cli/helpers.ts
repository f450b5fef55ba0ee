// Runs `writ` in-process through `main(argv, { stdout, stderr, env })` and captures output.
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (for runs with `--json`). */
  json<T = any>(): T;
}

/** Runs one command line with `env` as its whole environment. */
export async function runCli(args: string[], env: Record<string, string | undefined>): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await main(args, { stdout, stderr, env });
  return {
    code,
    stdout: out,
    stderr: err,
    json() {
      try {
        return JSON.parse(out);
      } catch {
        throw new Error(`stdout is not JSON (exit ${code}): ${out}\nstderr: ${err}`);
      }
    },
  };
}
