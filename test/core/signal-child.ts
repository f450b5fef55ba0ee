// A child Node process for signal tests: runs `code` as a module (through tsx) and sends it
// SIGINT each time it prints `ready`; killed after 20 s if it does not end.
import { spawn } from 'node:child_process';

export function runInterruptedChild(code: string): Promise<{ status: number | null; stdout: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d;
    for (const _ of String(d).matchAll(/ready\n/g)) child.kill('SIGINT');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout });
    }),
  );
}
