// `onInterrupt` (src/cli/progress.ts): the first Ctrl-C is the command's, a second exits 130.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runInterruptedChild } from '../core/signal-child.js';

const PROGRESS = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'cli', 'progress.ts')).href;

test('the first Ctrl-C calls the handler and the command goes on; a second exits with 130 at once', async () => {
  const code = `const { onInterrupt } = await import(${JSON.stringify(PROGRESS)});
    setInterval(() => {}, 1000);
    onInterrupt(() => setTimeout(() => process.stdout.write('ready\\n'), 100));
    process.stdout.write('ready\\n');`;
  const { status, stdout } = await runInterruptedChild(code);
  assert.equal(stdout, 'ready\nready\n');
  assert.equal(status, 130);
});
