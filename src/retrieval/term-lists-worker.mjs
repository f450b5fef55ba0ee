// Reads large per-word score lists for src/retrieval/term-lists.ts on its own read-only
// connection, so the thread serving searches never stalls on them. One list per turn of this
// thread's event loop, so a request for the lists a query is waiting on goes ahead of the
// read-ahead. Plain JS: a worker does not inherit the TypeScript loader in every setup.
import { parentPort, workerData } from 'node:worker_threads';
import { openReadConnection } from '../store/read-connection.mjs';
import { createWordKeys, ftsStateOf, FTS_STATE_SQL, phraseOf, TERM_LIST_SQL } from './fts-words.mjs';

const db = openReadConnection(workerData.path);
const stampStmt = db.prepare(FTS_STATE_SQL).pluck();
const listStmt = db.prepare(TERM_LIST_SQL).raw();
const begin = db.prepare('BEGIN');
const commit = db.prepare('COMMIT');
const keysOf = createWordKeys(db);
let vocab;
/** Endings tried when a token's own text does not make it (enough for every such token of the bench vocabulary). */
const SUFFIXES = ['e', 's', 'y', 'es', 'ed', 'ing', 'al', 'ate', 'ation', 'ize', 'ic', 'ous', 'ive', 'ity', 'ent', 'ence', 'ance'];

const stampOf = () => ftsStateOf(stampStmt.all());

/** Tokens of the index matching more than `minRows` rows, with their row counts, largest first. */
function largeTokens(minRows) {
  if (vocab === undefined) {
    db.exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.writ_fts_rows USING fts5vocab (main, chunks_fts, 'row')");
    vocab = db.prepare('SELECT term, doc FROM temp.writ_fts_rows WHERE doc > ? ORDER BY doc DESC').raw();
  }
  return vocab.all(minRows);
}

/**
 * A word that makes each token, or none. Porter is not idempotent ("agre" → "agr"), so when a
 * token's own text makes another token, a few suffixed forms are tried ("agr" + "e"); a token
 * none of them makes is read when a query asks for it (with the query's word).
 */
function wordsFor(tokens) {
  const keys = keysOf(tokens);
  const via = new Map();
  tokens.forEach((t, i) => {
    if (keys[i] === t) via.set(t, t);
  });
  for (const suffix of SUFFIXES) {
    const left = tokens.filter((t) => !via.has(t));
    if (left.length === 0) break;
    const made = keysOf(left.map((t) => t + suffix));
    left.forEach((t, i) => {
      if (made[i] === t) via.set(t, t + suffix);
    });
  }
  return via;
}

// Tasks: { stamp, wkey, weights, key, word, job }. Requests go first; read-ahead after.
const urgent = [];
const later = [];
const budget = new Map(); // job → bytes it may still read
let handled = 0;
let jobs = 0;
let scheduled = false;

function schedule() {
  if (scheduled || (urgent.length === 0 && later.length === 0)) return;
  scheduled = true;
  setImmediate(step);
}

function readList(task) {
  begin.run();
  try {
    // A write since the request retires every list of that state.
    if (stampOf() !== task.stamp) return null;
    return listStmt.all(task.weights[0], task.weights[1], task.weights[2], phraseOf(task.word));
  } finally {
    commit.run();
  }
}

function step() {
  scheduled = false;
  const task = urgent.shift() ?? later.shift();
  if (task !== undefined && (budget.get(task.job) ?? 0) > 0) {
    try {
      const list = readList(task);
      if (list === null) {
        dropStamp(task.stamp);
      } else {
        const rows = new Int32Array(list.length);
        const scores = new Float64Array(list.length);
        for (let i = 0; i < list.length; i++) {
          rows[i] = list[i][0];
          scores[i] = list[i][1];
        }
        budget.set(task.job, budget.get(task.job) - list.length * 12);
        parentPort.postMessage({ kind: 'list', stamp: task.stamp, wkey: task.wkey, key: task.key, rows, scores }, [rows.buffer, scores.buffer]);
      }
    } catch (err) {
      parentPort.postMessage({ kind: 'error', message: String(err?.message ?? err) });
    }
  }
  finishJobs();
  schedule();
}

function dropStamp(stamp) {
  for (const q of [urgent, later]) {
    for (let i = q.length - 1; i >= 0; i--) if (q[i].stamp === stamp) q.splice(i, 1);
  }
}

/** Tells the search thread once every message so far is done. */
function finishJobs() {
  const open = new Set([...urgent, ...later].map((t) => t.job));
  for (const job of [...budget.keys()]) if (!open.has(job)) budget.delete(job);
  if (budget.size === 0 && handled < jobs) {
    handled = jobs;
    parentPort.postMessage({ kind: 'idle', handled });
  }
}

parentPort.on('message', (m) => {
  if (m.kind === 'stop') {
    urgent.length = 0;
    later.length = 0;
    db.close();
    parentPort.close();
    return;
  }
  const job = ++jobs;
  budget.set(job, m.maxBytes);
  try {
    if (m.kind === 'read') {
      for (const [key, word] of m.words) urgent.push({ stamp: m.stamp, wkey: m.wkey, weights: m.weights, key, word, job });
    } else if (m.kind === 'readAhead') {
      // Every large token first (read in the stamp's own transaction, so it is that state's):
      // the search thread then reads any other word inline without counting its rows.
      begin.run();
      let large;
      try {
        large = stampOf() === m.stamp ? largeTokens(m.minRows) : [];
      } finally {
        commit.run();
      }
      if (large.length > 0) parentPort.postMessage({ kind: 'large', stamp: m.stamp, wkey: m.wkey, tokens: large });
      const have = new Set(m.have);
      const tokens = large.map(([t]) => t).filter((t) => !have.has(t));
      const via = wordsFor(tokens);
      for (const t of tokens) {
        const word = via.get(t);
        if (word !== undefined) later.push({ stamp: m.stamp, wkey: m.wkey, weights: m.weights, key: t, word, job });
      }
    }
  } catch (err) {
    parentPort.postMessage({ kind: 'error', message: String(err?.message ?? err) });
  }
  finishJobs();
  schedule();
});
