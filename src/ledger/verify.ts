// Walks the hash chain and every signed checkpoint, and names the first thing wrong.
// Reads in one read transaction, so a concurrent writer never makes a sound chain look
// truncated. The algorithm is written out in README.md for auditors.
import { sha256Hex, type SignatureVerifier } from '../core/index.js';
import type { Db } from '../store/index.js';
import { checkpointPayload, entryHash, GENESIS_HASH, type HashedRow } from './hash-chain.js';
import type { LedgerCheckpoint, LedgerHead, LedgerProblem, LedgerVerification } from './types.js';

const PAGE = 4096;
/** How far from its place `verify` looks for the seq a moved entry was written at. */
const REORDER_WINDOW = 1024;

type Pinned = LedgerCheckpoint & { readonly source: 'checkpoint' | 'anchor' };
type Row = [number, string, string, string, string | null, string | null, string | null, string, string, string, string];
/** seq, hash input built by SQLite, prev_hash, hash, refs, 1 when body and refs are JSON. */
type PageRow = [number, string, string, string, string, number];

const ROW_COLUMNS = 'seq, at, kind, subject_id, tenant, actor_id, request_id, refs, body, prev_hash, hash';
/** The entry hash input of README.md, as an SQL expression over one ledger_entries row. */
const SQL_HASH_INPUT =
  `'{"actorId":' || json_quote(actor_id) || ',"at":' || json_quote(at) || ',"body":' || body || ',"kind":' || json_quote(kind) || ` +
  `',"prevHash":' || json_quote(prev_hash) || ',"refs":' || refs || ',"requestId":' || json_quote(request_id) || ',"seq":' || seq || ` +
  `',"subjectId":' || json_quote(subject_id) || ',"tenant":' || json_quote(tenant) || '}'`;

function hashedRow(row: Row, seq = row[0]): HashedRow {
  return {
    seq,
    at: row[1],
    kind: row[2],
    subjectId: row[3],
    tenant: row[4],
    actorId: row[5],
    requestId: row[6],
    refsText: row[7],
    bodyText: row[8],
    prevHash: row[9],
  };
}

function originalSeqOf(row: Row): number | undefined {
  const seq = row[0];
  for (let d = 1; d <= REORDER_WINDOW; d++) {
    for (const c of [seq - d, seq + d]) {
      if (c >= 1 && entryHash(hashedRow(row, c)) === row[10]) return c;
    }
  }
  return undefined;
}

/**
 * True when an entry's stored refs text and its refs index rows (`indexedText`: SQLite's
 * `json_group_array` of them, undefined when there are none) name the same set of ids.
 */
function hasSameRefs(refsText: string, indexedText: string | undefined): boolean {
  // The common case: the index rows, as a JSON array, are the very text stored in the
  // entry (a JSON array of the same strings in the same order, hence the same set).
  if (indexedText !== undefined && refsText === indexedText) return true;
  const stored = indexedText === undefined ? [] : (JSON.parse(indexedText) as string[]);
  if (refsText === '[]') return stored.length === 0;
  let refs: unknown;
  try {
    refs = JSON.parse(refsText);
  } catch {
    return false;
  }
  if (!Array.isArray(refs) || refs.length !== stored.length) return false;
  const set = new Set(stored);
  return refs.every((r) => typeof r === 'string' && set.has(r));
}

export interface VerifyChainOptions {
  readonly fromSeq?: number;
  readonly anchor?: LedgerCheckpoint;
}

/**
 * Verifies the ledger tables of `db`, checking checkpoint signatures with `verifier`.
 * Stops at the first problem, which it names with its seq.
 */
export function verifyChain(db: Db, verifier: SignatureVerifier, options: VerifyChainOptions = {}): LedgerVerification {
  const fromSeq = options.fromSeq ?? 1;
  const run = (): LedgerVerification => {
    const headRow = db.prepare('SELECT seq, hash, at FROM ledger_entries ORDER BY seq DESC LIMIT 1').get() as
      | { seq: number; hash: string; at: string }
      | undefined;
    const head: LedgerHead = headRow ?? { seq: 0, hash: GENESIS_HASH, at: null };
    const checkpoints: Pinned[] = (
      db.prepare('SELECT seq, at, head_hash AS headHash, kid, signature FROM ledger_checkpoints WHERE seq >= ? ORDER BY seq').all(fromSeq) as LedgerCheckpoint[]
    ).map((cp) => ({ ...cp, source: 'checkpoint' }));
    if (options.anchor !== undefined && options.anchor.seq >= fromSeq) {
      checkpoints.push({ ...options.anchor, source: 'anchor' });
      checkpoints.sort((a, b) => a.seq - b.seq);
    }

    let checked = 0;
    let checkpointsChecked = 0;
    const bad = (seq: number, problem: LedgerProblem, message: string): LedgerVerification => ({
      ok: false,
      checked,
      checkpoints: checkpointsChecked,
      head,
      firstBad: { seq, problem, message },
    });
    const checkSignature = (cp: Pinned): LedgerVerification | undefined => {
      if (verifier.verify(cp.kid, checkpointPayload(cp), cp.signature)) return undefined;
      return bad(cp.seq, 'checkpoint_signature', `${cp.source} at seq ${cp.seq} has no valid signature by key \`${cp.kid}\``);
    };

    let expected = fromSeq;
    let prevHash = GENESIS_HASH;
    if (fromSeq > 1) {
      const before = db.prepare('SELECT hash FROM ledger_entries WHERE seq = ?').get(fromSeq - 1) as { hash: string } | undefined;
      if (before === undefined) return bad(fromSeq - 1, 'gap', `entry ${fromSeq - 1} is missing`);
      prevHash = before.hash;
    }

    // SQLite builds each entry's hash input (json_quote writes strings as JSON.stringify
    // does), which saves most of the per-row work in JS. A row whose SQL-built input does
    // not hash right is re-checked with the JS form before it is called bad, so a quoting
    // difference can slow verify down but never raise a false alarm.
    const page = db
      .prepare(
        `SELECT seq, ${SQL_HASH_INPUT}, prev_hash, hash, refs, json_valid(body) AND json_valid(refs) FROM ledger_entries WHERE seq >= ? ORDER BY seq LIMIT ?`,
      )
      .raw();
    const fullRow = db.prepare(`SELECT ${ROW_COLUMNS} FROM ledger_entries WHERE seq = ?`).raw();
    // One row per entry: its refs index rows as a JSON array (in index order).
    const refsPage = db.prepare('SELECT seq, json_group_array(ref) FROM ledger_refs WHERE seq >= ? AND seq <= ? GROUP BY seq ORDER BY seq').raw();
    let cpIndex = 0;
    let cursor = fromSeq;
    for (;;) {
      const rows = page.all(cursor, PAGE) as PageRow[];
      if (rows.length === 0) break;
      const first = (rows[0] as PageRow)[0];
      const last = (rows[rows.length - 1] as PageRow)[0];
      const indexedRefs = new Map<number, string>();
      for (const [seq, list] of refsPage.all(first, last) as Array<[number, string]>) indexedRefs.set(seq, list);
      for (const [seq, input, rowPrevHash, rowHash, refsText, isJson] of rows) {
        // INVARIANT: seqs run 1, 2, 3… without holes; a hole is a deleted entry.
        if (seq > expected) return bad(expected, 'gap', `entry ${expected} is missing (the next entry is ${seq})`);
        if (seq < expected) return bad(seq, 'reordered', `entry ${seq} comes before the start of the chain`);
        // Body and refs must be JSON texts, or the hash input would not parse back into
        // one set of fields and the hash would not pin them.
        if (isJson !== 1) return bad(seq, 'hash_mismatch', `entry ${seq} holds a body or refs that is not JSON: it was edited`);
        // INVARIANT: each entry's hash covers all of its fields, its seq and its predecessor's hash.
        if (`sha256:${sha256Hex(input)}` !== rowHash) {
          const row = fullRow.get(seq) as Row;
          if (entryHash(hashedRow(row)) !== rowHash) {
            const original = originalSeqOf(row);
            return original === undefined
              ? bad(seq, 'hash_mismatch', `entry ${seq} does not match its hash: it was edited`)
              : bad(seq, 'reordered', `entry ${seq} was written as entry ${original}: entries were reordered`);
          }
        }
        if (rowPrevHash !== prevHash) {
          return seq === fromSeq
            ? bad(seq, 'broken_link', `entry ${seq} does not link to the hash of entry ${seq - 1}`)
            : bad(seq - 1, 'broken_link', `entry ${seq - 1} no longer has the hash entry ${seq} recorded for it: it was rewritten`);
        }
        for (; cpIndex < checkpoints.length && (checkpoints[cpIndex] as Pinned).seq <= seq; cpIndex++) {
          const cp = checkpoints[cpIndex] as Pinned;
          const wrong = checkSignature(cp);
          if (wrong !== undefined) return wrong;
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
      }
      if (indexedRefs.size > 0) {
        const orphan = Math.min(...indexedRefs.keys());
        return bad(orphan, 'refs_mismatch', `the refs index lists entry ${orphan}, which does not exist`);
      }
      cursor = last + 1;
    }

    for (; cpIndex < checkpoints.length; cpIndex++) {
      const cp = checkpoints[cpIndex] as Pinned;
      const wrong = checkSignature(cp);
      if (wrong !== undefined) return wrong;
      return bad(expected, 'truncated', `a signed ${cp.source} names entry ${cp.seq} but the chain ends at ${expected - 1}: its tail was cut off`);
    }
    const orphanRef = db.prepare('SELECT min(seq) AS seq FROM ledger_refs WHERE seq >= ?').get(expected) as { seq: number | null };
    if (orphanRef.seq !== null) {
      return bad(expected, 'truncated', `the refs index lists entry ${orphanRef.seq} but the chain ends at ${expected - 1}: its tail was cut off`);
    }
    return { ok: true, checked, checkpoints: checkpointsChecked, head };
  };
  // A deferred transaction is a read snapshot in WAL mode: entries and checkpoints agree.
  return db.transaction(run).deferred();
}
