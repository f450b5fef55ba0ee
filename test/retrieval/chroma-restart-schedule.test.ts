// The restart rules of chroma supervision, with times passed in: how failures in a row are
// counted, how the wait grows, and what ends a streak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createChromaRestartSchedule, DEFAULT_CHROMA_RESTART_TIMING } from '../../src/retrieval/chroma-supervision.js';

// checkEveryMs differs from firstDelayMs, so a takeover retry that took the crash wait would show.
const timing = { ...DEFAULT_CHROMA_RESTART_TIMING, checkEveryMs: 500, firstDelayMs: 2_000, maxDelayMs: 10_000, stableMs: 60_000, crashLoopAfter: 3 };
const T0 = Date.parse('2026-11-27T10:00:00Z');

test('crashes soon after a start wait longer each time, up to the cap, and the third in a row raises the alarm once', () => {
  const s = createChromaRestartSchedule(timing);
  s.started(T0);
  assert.equal(s.mayStartAt(T0), true);
  const waits: number[] = [];
  const alarms: boolean[] = [];
  let at = T0;
  for (let i = 0; i < 5; i++) {
    at += 5_000; // ran 5 s
    const count = s.exited({ code: 1, signal: null }, at);
    assert.ok(count !== null, 'an exit within a minute is a crash');
    assert.equal(count.crashesInARow, i + 1);
    waits.push(count.retryInMs);
    alarms.push(count.alarm);
    assert.equal(s.mayStartAt(at + count.retryInMs - 1), false);
    assert.equal(s.nextStartInMs(at), count.retryInMs);
    at += count.retryInMs;
    assert.equal(s.mayStartAt(at), true);
    s.restarted();
    s.started(at);
  }
  assert.deepEqual(waits, [2_000, 4_000, 8_000, 10_000, 10_000]);
  assert.deepEqual(alarms, [false, false, true, false, false]);
  assert.equal(s.restarts, 5);
  assert.deepEqual(s.lastExit, { at: new Date(at - 10_000).toISOString(), exitCode: 1, signal: null, ranMs: 5_000 });
});

test('an exit after the child ran a minute is not a crash: the streak is over and the next start comes at once', () => {
  const s = createChromaRestartSchedule(timing);
  s.started(T0);
  assert.equal(s.exited({ code: null, signal: 'SIGKILL' }, T0 + 1_000)?.crashesInARow, 1);
  s.started(T0 + 3_000);
  assert.equal(s.exited({ code: null, signal: 'SIGKILL' }, T0 + 3_000 + 60_000), null);
  assert.equal(s.crashesInARow, 0);
  assert.equal(s.mayStartAt(T0 + 63_000), true);
  assert.equal(s.lastExit?.ranMs, 60_000);
  // The wait starts over from the first delay.
  s.started(T0 + 63_000);
  assert.equal(s.exited({ code: 1, signal: null }, T0 + 64_000)?.retryInMs, 2_000);
});

test('a child seen running a minute after its start ends the streak; a check sooner does not', () => {
  const s = createChromaRestartSchedule(timing);
  s.started(T0);
  s.exited({ code: 1, signal: null }, T0 + 1_000);
  s.started(T0 + 3_000);
  s.runningAt(T0 + 3_000 + 59_999);
  assert.equal(s.crashesInARow, 1);
  s.runningAt(T0 + 3_000 + 60_000);
  assert.equal(s.crashesInARow, 0);
  assert.equal(s.exited({ code: 1, signal: null }, T0 + 64_000), null, 'ran over a minute');
});

test('failed starts count and grow the wait like crashes', () => {
  const s = createChromaRestartSchedule(timing);
  s.started(T0);
  assert.equal(s.exited({ code: 1, signal: null }, T0 + 1_000)?.retryInMs, 2_000);
  const failed = s.startFailed(T0 + 3_000);
  assert.deepEqual(failed, { crashesInARow: 2, retryInMs: 4_000, alarm: false });
  assert.equal(s.mayStartAt(T0 + 6_999), false);
  assert.deepEqual(s.startFailed(T0 + 7_000), { crashesInARow: 3, retryInMs: 8_000, alarm: true });
});

test('failed takeovers of a shared folder count toward the alarm without growing the wait', () => {
  const s = createChromaRestartSchedule(timing);
  const counts = [s.takeoverFailed(), s.takeoverFailed(), s.takeoverFailed(), s.takeoverFailed()];
  assert.deepEqual(
    counts.map((c) => [c.crashesInARow, c.retryInMs, c.alarm]),
    [
      [1, 500, false],
      [2, 500, false],
      [3, 500, true],
      [4, 500, false],
    ],
  );
  assert.equal(s.mayStartAt(T0), true, 'the next check may try again');
  // Once taken over, a crash of the new child still waits the first delay.
  s.restarted();
  s.started(T0);
  assert.equal(s.exited({ code: 1, signal: null }, T0 + 1_000)?.retryInMs, 2_000);
});
