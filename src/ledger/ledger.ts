// The ledger: appends hash-chained entries inside the caller's transaction, signs
// checkpoints, answers queries, and verifies itself.
import {
  canonicalJson,
  type Clock,
  isWritError,
  type JsonValue,
  type Keyring,
  loadPublicKeys,
  nowIso,
  systemClock,
  type InputIssue,
  type SignatureVerifier,
  WritError,
} from '../core/index.js';
import type { Store } from '../store/index.js';
import { openAnchorFile } from './anchor-file.js';
import { checkpointColumns, hasIntervalColumn, toCheckpoint, type CheckpointRow } from './checkpoint-row.js';
import { LedgerErrors } from './errors.js';
import { checkpointPayload, entryHash, GENESIS_HASH } from './hash-chain.js';
import { walkImpact, walkLineage } from './lineage.js';
import { APPEND_ONLY_TRIGGERS, REF_KEY_SQL } from './migrations.js';
import type {
  LedgerApi,
  LedgerAppend,
  LedgerCheckpoint,
  LedgerEntry,
  LedgerHead,
  LedgerParallelVerifyOptions,
  LedgerQuery,
  LedgerVerification,
  LedgerVerifyOptions,
} from './types.js';
import { tenantVerification } from './tenant-verification.js';
import { verifyChain, type ChainVerification, type VerifyChainOptions } from './verify.js';
import { verifyChainParallel } from './verify-parallel.js';

export interface LedgerOptions {
  /** An open store whose migrations include `ledgerMigrations`. */
  readonly store: Store;
  /** A keyring opened with purpose `ledger`; it signs checkpoints. */
  readonly keyring: Keyring;
  readonly clock?: Clock;
  /**
   * Sign a checkpoint each time the chain crosses a multiple of this many entries; 0 turns it
   * off. Default 1000. Each checkpoint states (and signs) it, and verify holds the chain after
   * the newest checkpoint to the interval stated there.
   */
  readonly checkpointEvery?: number;
  /**
   * A file outside the database where each new checkpoint is also written; `verify`
   * checks the chain against it, which catches a tail cut off together with its
   * checkpoints. Optional.
   */
  readonly anchorFile?: string;
  /**
   * Told when writing the anchor file after a commit failed (the entries are committed;
   * the file keeps naming an older checkpoint until a later write succeeds). Writes made
   * by `checkpoint()` and `close()` throw instead.
   */
  readonly onAnchorError?: (err: unknown, checkpoint: LedgerCheckpoint) => void;
}

const KIND = /^[a-z_]+\.[a-z_]+$/;
const MAX_ID = 512;
const MAX_REFS = 10_000;
const MAX_BODY_CHARS = 1_000_000;
const ENTRY_KEYS = new Set(['kind', 'subjectId', 'tenant', 'actorId', 'requestId', 'refs', 'body']);
const SCAN_REFS_MAX = 16;

/** An entry checked and put in canonical text, ready to chain. */
interface PreparedEntry {
  readonly kind: string;
  readonly subjectId: string;
  readonly tenant: string | null;
  readonly actorId: string | null;
  readonly requestId: string | null;
  readonly refs: string[];
  readonly refsText: string;
  readonly body: JsonValue;
  readonly bodyText: string;
}

type EntryRow = {
  seq: number;
  at: string;
  kind: string;
  subject_id: string;
  tenant: string | null;
  actor_id: string | null;
  request_id: string | null;
  refs: string;
  body: string;
  prev_hash: string;
  hash: string;
};

const ENTRY_COLUMNS = 'seq, at, kind, subject_id, tenant, actor_id, request_id, refs, body, prev_hash, hash';

function toEntry(row: EntryRow): LedgerEntry {
  return {
    seq: row.seq,
    at: row.at,
    kind: row.kind,
    subjectId: row.subject_id,
    tenant: row.tenant,
    actorId: row.actor_id,
    requestId: row.request_id,
    refs: JSON.parse(row.refs) as string[],
    body: JSON.parse(row.body) as JsonValue,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID && value.isWellFormed();
}

/**
 * Where an issue is, under `path` (an entry's index in `appendMany`, or '' for one entry).
 * A module function, not a closure per call: tsx names every closure it compiles (`__name`),
 * a cost each append would pay.
 */
function issueAt(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

const OPTIONAL_ID_KEYS = ['tenant', 'actorId', 'requestId'] as const;

function prepareEntry(input: LedgerAppend, path = ''): PreparedEntry {
  const issues: InputIssue[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new WritError(LedgerErrors.LEDGER_INVALID_ENTRY, `invalid ledger entry${path === '' ? '' : ` \`${path}\``}: not an object`, {
      details: { issues: [{ path: path || '(root)', code: 'invalid_type', message: 'expected an object' }] },
    });
  }
  for (const key in input) {
    if (Object.hasOwn(input, key) && !ENTRY_KEYS.has(key)) issues.push({ path: issueAt(path, key), code: 'unrecognized_keys', message: `unknown field \`${key}\`` });
  }
  if (typeof input.kind !== 'string' || input.kind.length > 100 || !KIND.test(input.kind)) {
    issues.push({ path: issueAt(path, 'kind'), code: 'invalid_format', message: 'kind must read `area.event` in lowercase letters and underscores' });
  }
  if (!isId(input.subjectId)) issues.push({ path: issueAt(path, 'subjectId'), code: 'invalid_type', message: `subjectId must be a string of 1 to ${MAX_ID} characters` });
  for (const key of OPTIONAL_ID_KEYS) {
    const value = input[key];
    if (value !== undefined && value !== null && !isId(value)) {
      issues.push({ path: issueAt(path, key), code: 'invalid_type', message: `${key} must be null or a string of 1 to ${MAX_ID} characters` });
    }
  }
  const refs: string[] = [];
  if (input.refs !== undefined) {
    if (!Array.isArray(input.refs) || input.refs.length > MAX_REFS) {
      issues.push({ path: issueAt(path, 'refs'), code: 'invalid_type', message: `refs must be an array of at most ${MAX_REFS} ids` });
    } else {
      // A few refs are deduplicated by scanning, more through a set (an entry has ~2).
      const seen = input.refs.length > SCAN_REFS_MAX ? new Set<string>() : undefined;
      for (let i = 0; i < input.refs.length; i++) {
        const ref: unknown = input.refs[i];
        if (!isId(ref)) issues.push({ path: issueAt(path, `refs.${i}`), code: 'invalid_type', message: `ref must be a string of 1 to ${MAX_ID} characters` });
        else if (seen === undefined ? !refs.includes(ref) : !seen.has(ref)) {
          seen?.add(ref);
          refs.push(ref);
        }
      }
    }
  }
  let bodyText = '';
  if (input.body === undefined) {
    issues.push({ path: issueAt(path, 'body'), code: 'invalid_type', message: 'body is required (use null or {} for none)' });
  } else {
    try {
      bodyText = canonicalJson(input.body);
      if (bodyText.length > MAX_BODY_CHARS) issues.push({ path: issueAt(path, 'body'), code: 'too_big', message: `body exceeds ${MAX_BODY_CHARS} characters of JSON` });
    } catch (err) {
      if (!isWritError(err)) throw err;
      const where = String(err.details.path ?? '$').replace(/^\$/, issueAt(path, 'body'));
      issues.push({ path: where, code: 'not_canonical', message: err.message });
    }
  }
  if (issues.length > 0) {
    const first = issues[0] as InputIssue;
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    throw new WritError(LedgerErrors.LEDGER_INVALID_ENTRY, `invalid ledger entry: \`${first.path}\`: ${first.message}${more}`, { details: { issues } });
  }
  return {
    kind: input.kind,
    subjectId: input.subjectId,
    tenant: input.tenant ?? null,
    actorId: input.actorId ?? null,
    requestId: input.requestId ?? null,
    refs,
    // Refs are well-formed strings, so JSON.stringify writes them as RFC 8785 does.
    refsText: JSON.stringify(refs),
    // The caller's value, already checked to be JSON; stored and hashed as `bodyText`.
    body: input.body,
    bodyText,
  };
}

function invalidQuery(message: string, details: Record<string, unknown> = {}): WritError {
  return new WritError(LedgerErrors.LEDGER_INVALID_QUERY, `invalid ledger query: ${message}`, { details });
}

/**
 * Creates the ledger over an open store. Checks that the ledger tables and their
 * append-only triggers exist.
 *
 * @example
 * const store = openStore({ path: join(home, 'writ.db'), migrations: [...ledgerMigrations] });
 * const ledger = createLedger({ store, keyring: openKeyring({ dir: join(home, 'keys', 'ledger'), purpose: 'ledger' }) });
 * store.transaction(() => {
 *   applyTheChange();
 *   ledger.append({ kind: 'decision.made', subjectId: decisionId, refs: [proposalId], body: { outcome: 'allow' } });
 * });
 * ledger.verify().ok // true
 * (await ledger.verifyAsync()).ok // true, walked on worker threads when the chain is long
 */
export function createLedger(options: LedgerOptions): LedgerApi {
  const { store, keyring } = options;
  if (typeof store?.transaction !== 'function' || store.db === undefined) {
    throw new WritError(LedgerErrors.LEDGER_OPTIONS_INVALID, 'ledger needs an open `store`');
  }
  if (keyring?.purpose !== 'ledger' || typeof keyring.sign !== 'function') {
    throw new WritError(LedgerErrors.LEDGER_OPTIONS_INVALID, `ledger needs a keyring of purpose \`ledger\`, got \`${String(keyring?.purpose)}\``);
  }
  const checkpointEvery = options.checkpointEvery ?? 1000;
  if (!Number.isSafeInteger(checkpointEvery) || checkpointEvery < 0) {
    throw new WritError(LedgerErrors.LEDGER_OPTIONS_INVALID, `\`checkpointEvery\` must be a non-negative integer, got \`${String(checkpointEvery)}\``);
  }
  const clock = options.clock ?? systemClock;
  const { db } = store;

  const schema = new Set(
    (db.prepare("SELECT type, name FROM sqlite_master WHERE name LIKE 'ledger\\_%' ESCAPE '\\'").all() as Array<{ type: string; name: string }>).map(
      (r) => `${r.type}:${r.name}`,
    ),
  );
  for (const table of ['ledger_entries', 'ledger_refs', 'ledger_checkpoints']) {
    if (!schema.has(`table:${table}`)) {
      throw new WritError(LedgerErrors.LEDGER_SCHEMA_MISSING, `table \`${table}\` is missing: open the store with \`ledgerMigrations\``);
    }
  }
  const missing = APPEND_ONLY_TRIGGERS.filter((t) => !schema.has(`trigger:${t}`));
  if (missing.length > 0) {
    throw new WritError(LedgerErrors.LEDGER_APPEND_ONLY, `ledger triggers \`${missing.join('`, `')}\` are missing: the ledger tables are not append-only`, {
      details: { missing },
    });
  }

  const selectHead = db.prepare('SELECT seq, hash, at FROM ledger_entries ORDER BY seq DESC LIMIT 1');
  const insertEntry = db.prepare(
    'INSERT INTO ledger_entries (seq, at, kind, subject_id, tenant, actor_id, request_id, refs, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const insertRef = db.prepare('INSERT INTO ledger_refs (seq, ref) VALUES (?, ?)');
  // A store opened without ledger migration 3 (the migration test's version-1 store) has no
  // column for the interval: its checkpoints are signed in the old form, as before.
  const hasInterval = hasIntervalColumn(db);
  const CHECKPOINT_COLUMNS = checkpointColumns(hasInterval);
  const selectLastCheckpointRow = db.prepare(`SELECT ${CHECKPOINT_COLUMNS} FROM ledger_checkpoints ORDER BY seq DESC LIMIT 1`);
  const selectLastCheckpoint = (): LedgerCheckpoint | undefined => {
    const row = selectLastCheckpointRow.get() as CheckpointRow | undefined;
    return row === undefined ? undefined : toCheckpoint(row);
  };
  const selectCheckpoints = db.prepare(`SELECT ${CHECKPOINT_COLUMNS} FROM ledger_checkpoints WHERE seq > ? ORDER BY seq LIMIT ?`);
  const insertCheckpoint = hasInterval
    ? db.prepare('INSERT INTO ledger_checkpoints (seq, at, head_hash, kid, signature, checkpoint_every) VALUES (?, ?, ?, ?, ?, ?)')
    : db.prepare('INSERT INTO ledger_checkpoints (seq, at, head_hash, kid, signature) VALUES (?, ?, ?, ?, ?)');
  // INVARIANT: queries see only seqs from 1 on, the chain verify walks; a row planted below
  // it (which verify reports as out_of_range) never reaches an entry, lineage or impact.
  const selectEntry = db.prepare(`SELECT ${ENTRY_COLUMNS} FROM ledger_entries WHERE seq = ? AND seq >= 1`);
  const selectAbout = db.prepare(`SELECT ${ENTRY_COLUMNS} FROM ledger_entries WHERE subject_id = ? AND seq >= 1 ORDER BY seq`);
  const selectReferencing = db.prepare(
    `SELECT ${ENTRY_COLUMNS.split(', ').map((c) => `e.${c}`).join(', ')} FROM ledger_refs r JOIN ledger_entries e ON e.seq = r.seq
     WHERE ${REF_KEY_SQL('r.ref')} = ${REF_KEY_SQL('@ref')} AND r.ref = @ref AND r.seq >= 1 ORDER BY r.seq`,
  );
  const selectFirstAbout = db.prepare('SELECT min(seq) FROM ledger_entries WHERE subject_id = ? AND seq >= 1').pluck();
  const queryStatements = new Map<string, { all(...params: unknown[]): unknown[] }>();

  let closed = false;

  const readHead = (): LedgerHead => (selectHead.get() as LedgerHead | undefined) ?? { seq: 0, hash: GENESIS_HASH, at: null };

  const anchorFile = options.anchorFile === undefined ? undefined : openAnchorFile(options.anchorFile, store.path, options.onAnchorError);
  const readAnchor = (): LedgerCheckpoint | undefined => anchorFile?.read();

  // Verify holds the entries after the newest checkpoint to the interval that checkpoint
  // states. When that is not this ledger's interval (another writer's, or none: checkpoints
  // of the old form, or none at all under existing entries), this ledger's first append
  // signs a checkpoint stating its own, so its appends are never held to another interval
  // (a larger one would see "missing" checkpoints this ledger never owed). Decided once
  // here: an append only reads the flag.
  let isIntervalUnstated = false;
  if (hasInterval && !db.readonly) {
    const newest = selectLastCheckpoint();
    isIntervalUnstated = newest === undefined ? readHead().seq > 0 : newest.checkpointEvery !== checkpointEvery;
  }
  /** The checkpoint that stated this ledger's interval, until its transaction has ended. */
  let statedBy: LedgerCheckpoint | undefined;
  function confirmIntervalStated(): void {
    if (db.open && db.inTransaction) {
      setImmediate(confirmIntervalStated);
      return;
    }
    // Rolled back with the entries it came with: the next append states the interval again.
    if (statedBy !== undefined && db.open && selectCheckpointSignature.get(statedBy.seq) !== statedBy.signature) isIntervalUnstated = true;
    statedBy = undefined;
  }

  // Runs inside the caller's transaction; the checkpoint commits or rolls back with the entries.
  function signCheckpoint(head: { seq: number; hash: string }): LedgerCheckpoint {
    const at = nowIso(clock);
    const fields = hasInterval ? { seq: head.seq, headHash: head.hash, at, checkpointEvery } : { seq: head.seq, headHash: head.hash, at };
    const { kid, signature } = keyring.sign(checkpointPayload(fields));
    if (hasInterval) insertCheckpoint.run(head.seq, at, head.hash, kid, signature, checkpointEvery);
    else insertCheckpoint.run(head.seq, at, head.hash, kid, signature);
    const made: LedgerCheckpoint = { ...fields, kid, signature };
    if (isIntervalUnstated) {
      isIntervalUnstated = false;
      statedBy = made;
      setImmediate(confirmIntervalStated);
    }
    return made;
  }

  // Checkpoints signed by this ledger whose anchor is not written yet. Appends run inside
  // their caller's transaction (every broker and server write does), so the anchor is
  // written once that transaction has ended, and only for a checkpoint it committed.
  const pendingAnchors: LedgerCheckpoint[] = [];
  const selectCheckpointSignature = db.prepare('SELECT signature FROM ledger_checkpoints WHERE seq = ?').pluck();
  /** The newest pending checkpoint that committed; empties the list. */
  function takeCommittedAnchor(): LedgerCheckpoint | undefined {
    // INVARIANT: an anchor names only a committed checkpoint; one made inside a
    // transaction that rolled back is dropped here.
    const committed = pendingAnchors.filter((cp) => selectCheckpointSignature.get(cp.seq) === cp.signature);
    pendingAnchors.length = 0;
    return committed.length === 0 ? undefined : committed.reduce((a, b) => (b.seq > a.seq ? b : a));
  }
  let anchorFlushScheduled = false;
  function scheduleAnchorFlush(): void {
    if (anchorFile === undefined) pendingAnchors.length = 0;
    if (pendingAnchors.length === 0 || anchorFlushScheduled) return;
    anchorFlushScheduled = true;
    setImmediate(flushAnchorLater);
  }
  function flushAnchorLater(): void {
    if (closed || !db.open) {
      anchorFlushScheduled = false;
      return;
    }
    if (db.inTransaction) {
      setImmediate(flushAnchorLater);
      return;
    }
    anchorFlushScheduled = false;
    const checkpoint = takeCommittedAnchor();
    // Off this thread: the write waits for the WAL to be synced (see anchor-file.ts).
    if (checkpoint !== undefined) anchorFile?.writeLater(checkpoint);
  }

  // Append listeners (the live feed): told after the appending transaction has ended.
  const appendListeners = new Set<() => void>();
  let notifyScheduled = false;
  function notifyAppended(): void {
    if (appendListeners.size === 0 || notifyScheduled) return;
    notifyScheduled = true;
    setImmediate(fireAppended);
  }
  function fireAppended(): void {
    // INVARIANT: listeners run only when no transaction is open on this connection, so the
    // entries they read by seq are committed; a rolled-back append is simply not there.
    if (db.open && db.inTransaction) {
      setImmediate(fireAppended);
      return;
    }
    notifyScheduled = false;
    for (const listener of appendListeners) {
      try {
        listener();
      } catch {
        // A listener's failure is its own; appends never fail because of it.
      }
    }
  }

  function chain(entries: readonly PreparedEntry[]): LedgerEntry[] {
    if (closed) throw new WritError(LedgerErrors.LEDGER_CLOSED, 'ledger is closed');
    // INVARIANT: the head is read inside the write transaction, so two connections on one
    // file never chain onto the same predecessor; the seq primary key refuses a fork anyway.
    const head = readHead();
    let seq = head.seq;
    let prevHash = head.hash;
    // `at` never goes backward along the chain, even when writers' clocks disagree.
    let at = nowIso(clock);
    if (head.at !== null && head.at > at) at = head.at;
    const out: LedgerEntry[] = [];
    for (const e of entries) {
      seq += 1;
      const hash = entryHash({
        seq,
        at,
        kind: e.kind,
        subjectId: e.subjectId,
        tenant: e.tenant,
        actorId: e.actorId,
        requestId: e.requestId,
        refsText: e.refsText,
        bodyText: e.bodyText,
        prevHash,
      });
      insertEntry.run(seq, at, e.kind, e.subjectId, e.tenant, e.actorId, e.requestId, e.refsText, e.bodyText, prevHash, hash);
      for (const ref of e.refs) insertRef.run(seq, ref);
      out.push({
        seq,
        at,
        kind: e.kind,
        subjectId: e.subjectId,
        tenant: e.tenant,
        actorId: e.actorId,
        requestId: e.requestId,
        refs: e.refs,
        body: e.body,
        prevHash,
        hash,
      });
      prevHash = hash;
    }
    if ((checkpointEvery > 0 && Math.floor(seq / checkpointEvery) > Math.floor(head.seq / checkpointEvery)) || isIntervalUnstated) {
      pendingAnchors.push(signCheckpoint({ seq, hash: prevHash }));
    }
    return out;
  }

  function page(query: LedgerQuery): LedgerEntry[] {
    const afterSeq = query.afterSeq ?? 0;
    const limit = query.limit ?? 100;
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw invalidQuery(`\`afterSeq\` must be a non-negative integer`, { afterSeq });
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw invalidQuery('`limit` must be an integer from 1 to 10000', { limit });
    const kinds = query.kinds ?? [];
    if (!Array.isArray(kinds) || kinds.some((k) => typeof k !== 'string' || !KIND.test(k)) || kinds.length > 100) {
      throw invalidQuery('`kinds` must be at most 100 kinds reading `area.event`');
    }
    const tenant = query.tenant;
    if (tenant !== undefined && tenant !== null && !isId(tenant)) throw invalidQuery('`tenant` must be null or a non-empty string');
    const tenantMode = tenant === undefined ? 'any' : tenant === null ? 'none' : 'one';
    const requestId = query.requestId;
    if (requestId !== undefined && !isId(requestId)) throw invalidQuery('`requestId` must be a non-empty string');
    const key = `${kinds.length}:${tenantMode}:${requestId === undefined ? '' : 'r'}`;
    let stmt = queryStatements.get(key);
    if (stmt === undefined) {
      const where = ['seq > ?'];
      if (kinds.length > 0) where.push(`kind IN (${kinds.map(() => '?').join(', ')})`);
      if (tenantMode === 'none') where.push('tenant IS NULL');
      if (tenantMode === 'one') where.push('tenant = ?');
      if (requestId !== undefined) where.push('request_id = ?');
      stmt = db.prepare(`SELECT ${ENTRY_COLUMNS} FROM ledger_entries WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`);
      queryStatements.set(key, stmt);
    }
    const params: unknown[] = [afterSeq, ...kinds];
    if (tenantMode === 'one') params.push(tenant);
    if (requestId !== undefined) params.push(requestId);
    params.push(limit);
    return (stmt.all(...params) as EntryRow[]).map(toEntry);
  }

  const entriesAbout = (subjectId: string): LedgerEntry[] => {
    if (!isId(subjectId)) throw invalidQuery('subject id must be a non-empty string');
    return (selectAbout.all(subjectId) as EntryRow[]).map(toEntry);
  };
  const entriesReferencing = (id: string): LedgerEntry[] => {
    if (!isId(id)) throw invalidQuery('id must be a non-empty string');
    return (selectReferencing.all({ ref: id }) as EntryRow[]).map(toEntry);
  };

  const graph = {
    entriesAbout,
    entriesReferencing,
    firstSeqAbout: (subjectId: string) => (selectFirstAbout.get(subjectId) as number | null) ?? undefined,
  };

  /** What `verify` and `verifyAsync` walk with: the verifier and chain options, or the result when the anchor file is unreadable. */
  function verifyInputs(verifyOptions: LedgerVerifyOptions): { verifier: SignatureVerifier; chain: VerifyChainOptions } | { result: LedgerVerification } {
    const fromSeq = verifyOptions.fromSeq ?? 1;
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) throw invalidQuery('`fromSeq` must be a positive integer', { fromSeq });
    const verifier = verifyOptions.jwks === undefined ? keyring : loadPublicKeys(verifyOptions.jwks);
    let anchor = verifyOptions.anchor;
    try {
      anchor ??= readAnchor();
    } catch (err) {
      if (!isWritError(err, LedgerErrors.LEDGER_CHAIN_BROKEN)) throw err;
      return { result: { ok: false, checked: 0, checkpoints: 0, head: readHead(), firstBad: { seq: 0, problem: 'checkpoint_signature', message: err.message } } };
    }
    return { verifier, chain: anchor === undefined ? { fromSeq, checkpointEvery } : { fromSeq, anchor, checkpointEvery } };
  }

  async function verifyInParallel(verifyOptions: LedgerParallelVerifyOptions, tenant?: string): Promise<ChainVerification> {
    const { threads, minEntriesForThreads, entriesPerRange, keepCallingThreadFree } = verifyOptions;
    for (const [name, value, min] of [['threads', threads, 1], ['minEntriesForThreads', minEntriesForThreads, 0], ['entriesPerRange', entriesPerRange, 1]] as const) {
      if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
        throw invalidQuery(`\`${name}\` must be an integer of at least ${min}`, { [name]: value });
      }
    }
    if (keepCallingThreadFree !== undefined && typeof keepCallingThreadFree !== 'boolean') {
      throw invalidQuery('`keepCallingThreadFree` must be a boolean', { keepCallingThreadFree });
    }
    const inputs = verifyInputs(verifyOptions);
    if ('result' in inputs) return inputs.result;
    return verifyChainParallel(db, inputs.verifier, { ...inputs.chain, threads, minEntriesForThreads, entriesPerRange, keepCallingThreadFree, ...(tenant === undefined ? {} : { tenant }) });
  }

  const ledger: LedgerApi = {
    append(entry) {
      const prepared = prepareEntry(entry);
      // Inside the caller's transaction the entry joins it directly: a savepoint would cost
      // two more statements per append, and `chain` can only fail on an SQLite error, which
      // fails the caller's whole transaction anyway.
      const [stored] = db.inTransaction ? chain([prepared]) : store.transaction(() => chain([prepared]));
      scheduleAnchorFlush();
      notifyAppended();
      return stored as LedgerEntry;
    },
    appendMany(entries) {
      if (!Array.isArray(entries)) {
        throw new WritError(LedgerErrors.LEDGER_INVALID_ENTRY, 'invalid ledger entries: expected an array', {
          details: { issues: [{ path: '(root)', code: 'invalid_type', message: 'expected an array' }] },
        });
      }
      const prepared = entries.map((e, i) => prepareEntry(e, String(i)));
      if (prepared.length === 0) return [];
      const stored = db.inTransaction ? chain(prepared) : store.transaction(() => chain(prepared));
      scheduleAnchorFlush();
      notifyAppended();
      return stored;
    },
    checkpoint() {
      const result = store.transaction(() => {
        const head = readHead();
        if (head.seq === 0) return null;
        const last = selectLastCheckpoint();
        if (last !== undefined && last.seq === head.seq) return last;
        const made = signCheckpoint(head);
        pendingAnchors.push(made);
        return made;
      });
      if (db.inTransaction) scheduleAnchorFlush();
      else if (result !== null && anchorFile !== undefined) {
        // Committed now, and the newest: written before returning (at close, the last word).
        pendingAnchors.length = 0;
        anchorFile.writeSync(result);
      }
      return result;
    },
    anchorWritten: async () => {
      while (anchorFlushScheduled) await new Promise<void>((resolve) => setImmediate(resolve));
      await anchorFile?.settled();
    },
    lastCheckpoint() {
      return selectLastCheckpoint() ?? null;
    },
    checkpoints(query = {}) {
      const afterSeq = query.afterSeq ?? 0;
      const limit = query.limit ?? 100;
      if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw invalidQuery('`afterSeq` must be a non-negative integer', { afterSeq });
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw invalidQuery('`limit` must be an integer from 1 to 10000', { limit });
      return (selectCheckpoints.all(afterSeq, limit) as CheckpointRow[]).map(toCheckpoint);
    },
    head: readHead,
    entry(seq) {
      if (!Number.isSafeInteger(seq)) throw invalidQuery('`seq` must be an integer', { seq });
      const row = selectEntry.get(seq) as EntryRow | undefined;
      return row === undefined ? undefined : toEntry(row);
    },
    entries: (query = {}) => page(query),
    entriesAbout,
    entriesReferencing,
    lineage: (id, graphOptions) => walkLineage(graph, id, graphOptions),
    impact: (id, graphOptions) => walkImpact(graph, id, graphOptions),
    verify(verifyOptions: LedgerVerifyOptions = {}) {
      const inputs = verifyInputs(verifyOptions);
      return 'result' in inputs ? inputs.result : verifyChain(db, inputs.verifier, inputs.chain);
    },
    verifyAsync: (verifyOptions: LedgerParallelVerifyOptions = {}) => verifyInParallel(verifyOptions),
    async verifyForTenant(tenant, verifyOptions = {}) {
      if (!isId(tenant)) throw invalidQuery('`tenant` must be a non-empty string');
      return tenantVerification(db, await verifyInParallel(verifyOptions, tenant), tenant);
    },
    close() {
      if (closed) return;
      try {
        if (db.open && !db.readonly) ledger.checkpoint();
      } finally {
        closed = true;
        // Writes still queued would name older checkpoints than the one just written.
        anchorFile?.stop();
      }
    },
    onAppend(listener) {
      appendListeners.add(listener);
      return () => void appendListeners.delete(listener);
    },
  };
  return ledger;
}

/**
 * Throws LEDGER_CHAIN_BROKEN when a verification found a problem.
 *
 * @example
 * assertLedgerIntact(ledger.verify());
 */
export function assertLedgerIntact(result: ReturnType<LedgerApi['verify']>): void {
  if (result.ok || result.firstBad === undefined) return;
  throw new WritError(LedgerErrors.LEDGER_CHAIN_BROKEN, `ledger verification failed at entry ${result.firstBad.seq}: ${result.firstBad.problem}: ${result.firstBad.message}`, {
    details: { seq: result.firstBad.seq, problem: result.firstBad.problem, checked: result.checked },
  });
}
