// The walk of verify over one stretch of seqs [from, to]: the checks of each entry (no
// gap, in order, JSON texts, entry hash, link, the hashes signed checkpoints name, the
// refs index). The one implementation of those checks: `verify.ts` runs it on the calling
// thread, `verify-worker.mjs` on worker threads. Plain JS importing only node built-ins:
// a worker does not inherit the TypeScript loader in every setup. Types: verify-range.d.mts.
import * as nodeCrypto from 'node:crypto';

/** Entries read per query. */
export const PAGE = 4096;

/** The entry hash input of README.md, as an SQL expression over one ledger_entries row. */
const SQL_HASH_INPUT =
  `'{"actorId":' || json_quote(actor_id) || ',"at":' || json_quote(at) || ',"body":' || body || ',"kind":' || json_quote(kind) || ` +
  `',"prevHash":' || json_quote(prev_hash) || ',"refs":' || refs || ',"requestId":' || json_quote(request_id) || ',"seq":' || seq || ` +
  `',"subjectId":' || json_quote(subject_id) || ',"tenant":' || json_quote(tenant) || '}'`;

// The same one-shot SHA-256 as core's `sha256Hex` (core is TypeScript, out of a worker's reach).
const oneShot = nodeCrypto.hash;
const sha256Hex =
  typeof oneShot === 'function' ? (data) => oneShot('sha256', data, 'hex') : (data) => nodeCrypto.createHash('sha256').update(data).digest('hex');

/**
 * True when an entry's stored refs text and its refs index rows (`indexedText`: SQLite's
 * `json_group_array` of them, undefined when there are none) name the same set of ids.
 */
function hasSameRefs(refsText, indexedText) {
  // The common case: the index rows, as a JSON array, are the very text stored in the
  // entry (a JSON array of the same strings in the same order, hence the same set).
  if (indexedText !== undefined && refsText === indexedText) return true;
  const stored = indexedText === undefined ? [] : JSON.parse(indexedText);
  if (refsText === '[]') return stored.length === 0;
  let refs;
  try {
    refs = JSON.parse(refsText);
  } catch {
    return false;
  }
  if (!Array.isArray(refs) || refs.length !== stored.length) return false;
  const set = new Set(stored);
  return refs.every((r) => typeof r === 'string' && set.has(r));
}

/**
 * Checks for a walk that cannot look closer (a worker): a row whose SQL-built hash input
 * does not hash right stops the walk, and the calling thread re-walks that stretch with the
 * full checks to name the problem.
 */
export const FAST_CHECKS = Object.freeze({
  hashFailed: (seq) => ({ seq, problem: 'hash_mismatch', message: `entry ${seq} failed the fast hash check` }),
});

/**
 * Prepares the walk's statements on `db` once; the returned function walks one range.
 * With a `tenant`, the walk also counts the entries of that tenant that passed: a tenant's
 * auditor is told its own figures, and counting them here costs no second pass over the chain.
 */
export function rangeWalker(db, tenant) {
  const page = db
    .prepare(
      `SELECT seq, ${SQL_HASH_INPUT}, prev_hash, hash, refs, json_valid(body) AND json_valid(refs), tenant FROM ledger_entries WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`,
    )
    .raw();
  // One row per entry: its refs index rows as a JSON array (in index order).
  const refsPage = db.prepare('SELECT seq, json_group_array(ref) FROM ledger_refs WHERE seq >= ? AND seq <= ? GROUP BY seq ORDER BY seq').raw();

  return function walkRange(range, checks) {
    const { chainStart, from, to, checkpoints } = range;
    let expected = from;
    let prevHash = range.prevHash;
    let firstPrevHash;
    let checked = 0;
    let checkpointsChecked = 0;
    let tenantChecked = 0;
    let tenantLastSeq = 0;
    let cpIndex = 0;
    const outcome = (firstBad) => ({ checked, checkpoints: checkpointsChecked, tenantChecked, tenantLastSeq, next: expected, lastHash: prevHash, firstPrevHash, firstBad });
    const bad = (seq, problem, message) => outcome({ seq, problem, message });

    let cursor = from;
    while (cursor <= to) {
      const rows = page.all(cursor, to, PAGE);
      if (rows.length === 0) break;
      const first = rows[0][0];
      const last = rows[rows.length - 1][0];
      const indexedRefs = new Map();
      for (const [seq, list] of refsPage.all(first, last)) indexedRefs.set(seq, list);
      for (const [seq, input, rowPrevHash, rowHash, refsText, isJson, rowTenant] of rows) {
        // INVARIANT: seqs run 1, 2, 3… without holes; a hole is a deleted entry.
        if (seq > expected) return bad(expected, 'gap', `entry ${expected} is missing (the next entry is ${seq})`);
        if (seq < expected) return bad(seq, 'reordered', `entry ${seq} comes before the start of the chain`);
        // Body and refs must be JSON texts, or the hash input would not parse back into
        // one set of fields and the hash would not pin them.
        if (isJson !== 1) return bad(seq, 'hash_mismatch', `entry ${seq} holds a body or refs that is not JSON: it was edited`);
        // INVARIANT: each entry's hash covers all of its fields, its seq and its predecessor's hash.
        // SQLite builds the hash input (json_quote writes strings as JSON.stringify does),
        // which saves most of the per-row work in JS; `checks.hashFailed` looks closer at a
        // row whose input does not hash right, so a quoting difference can slow verify down
        // but never raise a false alarm.
        if (`sha256:${sha256Hex(input)}` !== rowHash) {
          const wrong = checks.hashFailed(seq);
          if (wrong !== undefined) return outcome(wrong);
        }
        // INVARIANT: each entry records its predecessor's hash. A range walked without it
        // (a worker's) reports the first link for the caller to join to the range before.
        if (prevHash === undefined) firstPrevHash = rowPrevHash;
        else if (rowPrevHash !== prevHash) {
          return seq === chainStart
            ? bad(seq, 'broken_link', `entry ${seq} does not link to the hash of entry ${seq - 1}`)
            : bad(seq - 1, 'broken_link', `entry ${seq - 1} no longer has the hash entry ${seq} recorded for it: it was rewritten`);
        }
        for (; cpIndex < checkpoints.length && checkpoints[cpIndex].seq <= seq; cpIndex++) {
          const cp = checkpoints[cpIndex];
          const wrong = checks.checkpointSignature?.(cp);
          if (wrong !== undefined) return outcome(wrong);
          // INVARIANT: a signed checkpoint pins the hash of its entry and so of every entry before it.
          if (cp.seq < seq) return bad(cp.seq, 'gap', `entry ${cp.seq} named by a signed ${cp.source} is missing`);
          if (cp.headHash !== rowHash) {
            return bad(seq, 'checkpoint_mismatch', `entry ${seq} no longer has the hash its signed ${cp.source} names: the chain up to it was rewritten`);
          }
          checkpointsChecked++;
        }
        if (!hasSameRefs(refsText, indexedRefs.get(seq))) return bad(seq, 'refs_mismatch', `the refs index disagrees with the refs of entry ${seq}`);
        indexedRefs.delete(seq);
        prevHash = rowHash;
        expected = seq + 1;
        checked++;
        // A stored tenant is null or a string: without a tenant to count, this never holds.
        if (rowTenant === tenant) {
          tenantChecked++;
          tenantLastSeq = seq;
        }
      }
      if (indexedRefs.size > 0) {
        const orphan = Math.min(...indexedRefs.keys());
        return bad(orphan, 'refs_mismatch', `the refs index lists entry ${orphan}, which does not exist`);
      }
      cursor = last + 1;
    }
    return outcome(undefined);
  };
}

/** The ledger tables, each checked with its indexes by `integrityProblem`. */
const LEDGER_TABLES = ['ledger_entries', 'ledger_refs', 'ledger_checkpoints'];

/**
 * SQLite's integrity check of each ledger table and its indexes (table-scoped: the rest of
 * the file is not read): the problem quoting its first complaint, or undefined when all say
 * `ok`. Lineage and impact find entries through `ledger_entries_by_subject` and
 * `ledger_refs_by_ref`, which the walk never reads; an index pointed (with
 * `PRAGMA writable_schema`) at a b-tree that leaves out chosen entries would hide them from
 * those queries while the chain verifies. The check compares every index with its table.
 */
export function integrityProblem(db) {
  for (const table of LEDGER_TABLES) {
    const first = db.prepare(`PRAGMA main.integrity_check(${table})`).pluck().get();
    if (first !== 'ok') {
      return {
        seq: 0,
        problem: 'index_corrupt',
        message: `SQLite's integrity check of \`${table}\` and its indexes fails: \`${first}\`: an index lineage and impact read, or the table, was altered or damaged`,
      };
    }
  }
  return undefined;
}

/** True when a walk of `range` found nothing wrong and reached its last seq. */
export function isWholeRange(outcome, range) {
  return outcome.firstBad === undefined && outcome.next === range.to + 1;
}

// Threads share the ranges through a small Int32Array over a SharedArrayBuffer:
// [next range to claim, ranges worth claiming]. Each thread claims the next range when it
// is free, so a thread that starts late (or runs on a busy core) simply takes fewer.
const NEXT = 0;
const LIMIT = 1;

/** The shared counters for `count` ranges. */
export function rangeClaims(count) {
  const claims = new Int32Array(new SharedArrayBuffer(8));
  claims[NEXT] = 0;
  claims[LIMIT] = count;
  return claims;
}

/** Claims the next range: its index, or -1 when none is left worth walking. */
export function claimRange(claims) {
  const index = Atomics.add(claims, NEXT, 1);
  return index < Atomics.load(claims, LIMIT) ? index : -1;
}

/** Ranges from `index` on need no walk (a problem was found before them): stop claiming them. */
export function stopClaimsFrom(claims, index) {
  for (;;) {
    const limit = Atomics.load(claims, LIMIT);
    if (index >= limit || Atomics.compareExchange(claims, LIMIT, limit, index) === limit) return;
  }
}

/** How many ranges are worth walking now (those before the limit). */
export function claimLimit(claims) {
  return Atomics.load(claims, LIMIT);
}
