// Progress of long operations: one updating line on a terminal, spaced lines otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createProgressLine, formatProgress } from '../../src/cli/progress.js';

const event = (filesDone: number, etaSeconds: number | null) =>
  ({ jobId: 'ing_x', resumed: false, filesDone, filesTotal: 10, documents: filesDone, chunks: filesDone * 3, bytesDone: 0, bytesTotal: 0, elapsedMs: 1000, chunksPerSecond: 30, etaSeconds }) as const;

function capture(isTTY: boolean): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  Object.assign(stream, { isTTY });
  let text = '';
  stream.on('data', (d) => (text += d));
  return { stream, text: () => text };
}

test('progress shows count, rate and ETA', () => {
  assert.equal(formatProgress('ingest', event(4, 75)), 'ingest: 4/10 files, 12 chunks, 30 chunks/s, ETA 75 s');
  assert.equal(formatProgress('ingest', event(4, 600)), 'ingest: 4/10 files, 12 chunks, 30 chunks/s, ETA 10 min 0 s');
  assert.match(formatProgress('ingest', event(0, null)), /ETA -$/);
});

test('on a terminal progress rewrites one line, and ends it when done', () => {
  const { stream, text } = capture(true);
  const line = createProgressLine(stream, { label: 'ingest', silent: false });
  line.update(event(1, 9));
  line.update(event(2, 8));
  line.done();
  assert.equal(text(), '\r\x1b[Kingest: 1/10 files, 3 chunks, 30 chunks/s, ETA 9 s\r\x1b[Kingest: 2/10 files, 6 chunks, 30 chunks/s, ETA 8 s\n');
});

test('off a terminal progress prints spaced lines and always the last one; --json silences it', () => {
  const { stream, text } = capture(false);
  const line = createProgressLine(stream, { label: 'ingest', silent: false, everyMs: 60_000 });
  line.update(event(1, 9));
  line.update(event(2, 8));
  line.update(event(10, 0));
  line.done();
  assert.equal(text().split('\n').filter(Boolean).length, 2);
  assert.match(text(), /10\/10 files/);
  const quiet = capture(false);
  const silent = createProgressLine(quiet.stream, { label: 'ingest', silent: true });
  silent.update(event(10, 0));
  assert.equal(quiet.text(), '');
});
