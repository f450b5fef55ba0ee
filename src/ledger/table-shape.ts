// What verify checks before anything else: the ledger tables still have the shape the
// migrations give them. Verify pages entries by seq and cuts worker ranges the same way,
// so it reads every row only when seqs are distinct integers; a table rebuilt without its
// STRICT `INTEGER PRIMARY KEY` could hold a row at seq 4096.5 (or a second row at one seq)
// that no page reads while every query returns it.
import type { Db } from '../store/index.js';
import type { RangeProblem } from './verify-range.mjs';

interface ColumnShape {
  readonly name: string;
  readonly type: 'INTEGER' | 'TEXT';
  readonly notNull: boolean;
  /** Position in the primary key (1-based); 0 when not part of it. */
  readonly pk: number;
}

interface TableShape {
  readonly name: string;
  /** `seq` is the rowid (`seq INTEGER PRIMARY KEY`), or the table is WITHOUT ROWID keyed by `key`. */
  readonly key: 'rowid' | readonly string[];
  readonly columns: readonly ColumnShape[];
  /** How many of the last columns a later migration adds, so an older database may lack them. */
  readonly addedLater: number;
}

const col = (name: string, type: ColumnShape['type'], notNull: boolean, pk = 0): ColumnShape => ({ name, type, notNull, pk });

/** The tables as migrations `ledger` 1–5 (migrations.ts) leave them; a test holds the two in step. */
export const LEDGER_TABLE_SHAPES: readonly TableShape[] = [
  {
    name: 'ledger_entries',
    key: 'rowid',
    columns: [
      col('seq', 'INTEGER', false, 1),
      col('at', 'TEXT', true),
      col('kind', 'TEXT', true),
      col('subject_id', 'TEXT', true),
      col('tenant', 'TEXT', false),
      col('actor_id', 'TEXT', false),
      col('request_id', 'TEXT', false),
      col('refs', 'TEXT', true),
      col('body', 'TEXT', true),
      col('prev_hash', 'TEXT', true),
      col('hash', 'TEXT', true),
    ],
    addedLater: 0,
  },
  {
    name: 'ledger_refs',
    key: ['seq', 'ref'],
    columns: [col('seq', 'INTEGER', true, 1), col('ref', 'TEXT', true, 2)],
    addedLater: 0,
  },
  {
    name: 'ledger_checkpoints',
    key: 'rowid',
    columns: [
      col('seq', 'INTEGER', false, 1),
      col('at', 'TEXT', true),
      col('head_hash', 'TEXT', true),
      col('kid', 'TEXT', true),
      col('signature', 'TEXT', true),
      // Schema 3; a read-only copy not yet migrated has no such column.
      col('checkpoint_every', 'INTEGER', false),
    ],
    addedLater: 1,
  },
];

interface TableListRow {
  type: string;
  wr: number;
  strict: number;
}
interface XinfoRow {
  name: string;
  type: string;
  notnull: number;
  pk: number;
  hidden: number;
}
interface IndexListRow {
  name: string;
  origin: string;
}
interface IndexXinfoRow {
  name: string | null;
  desc: number;
  coll: string;
  key: number;
}

const describeColumn = (c: ColumnShape): string => `${c.name} ${c.type}${c.notNull ? ' NOT NULL' : ''}${c.pk > 0 ? ` PRIMARY KEY #${c.pk}` : ''}`;

function columnOf(row: XinfoRow): ColumnShape & { hidden: number } {
  return { name: row.name, type: row.type.toUpperCase() as ColumnShape['type'], notNull: row.notnull === 1, pk: row.pk, hidden: row.hidden };
}

/** How `table` differs from `shape`, in words, or undefined when it does not. */
function differenceOf(db: Db, shape: TableShape): string | undefined {
  const { name } = shape;
  const listed = db.prepare("SELECT type, wr, strict FROM pragma_table_list WHERE schema = 'main' AND name = ?").get(name) as TableListRow | undefined;
  if (listed === undefined) return 'is missing';
  if (listed.type !== 'table') return `is a ${listed.type}, not a table`;
  if (listed.strict !== 1) return 'is not STRICT';
  const withoutRowid = shape.key !== 'rowid';
  if ((listed.wr === 1) !== withoutRowid) return withoutRowid ? 'is not WITHOUT ROWID' : 'is WITHOUT ROWID';

  const columns = (db.prepare("SELECT name, type, \"notnull\", pk, hidden FROM pragma_table_xinfo(?, 'main')").all(name) as XinfoRow[]).map(columnOf);
  const expected = shape.columns;
  if (columns.length > expected.length || columns.length < expected.length - shape.addedLater) {
    return `has columns \`${columns.map((c) => c.name).join(', ')}\` where the migrations give \`${expected.map((c) => c.name).join(', ')}\``;
  }
  for (const [i, c] of columns.entries()) {
    const want = expected[i] as ColumnShape;
    if (c.hidden !== 0) return `has a generated or hidden column \`${c.name}\``;
    if (describeColumn(c) !== describeColumn(want)) return `has column \`${describeColumn(c)}\` where the migrations give \`${describeColumn(want)}\``;
  }

  const indexes = db.prepare("SELECT name, origin FROM pragma_index_list(?, 'main')").all(name) as IndexListRow[];
  const pkIndex = indexes.find((i) => i.origin === 'pk');
  if (shape.key === 'rowid') {
    // INVARIANT: `seq` is the rowid, so every row has a distinct integer seq. An `INTEGER
    // PRIMARY KEY DESC` (or any other key) is backed by an index of its own instead.
    return pkIndex === undefined ? undefined : '`seq` is not its rowid (`seq INTEGER PRIMARY KEY`)';
  }
  const keyColumns = pkIndex === undefined ? [] : (db.prepare("SELECT name, desc, coll, key FROM pragma_index_xinfo(?, 'main')").all(pkIndex.name) as IndexXinfoRow[]).filter((c) => c.key === 1);
  const keyText = keyColumns.map((c) => `${c.name ?? '?'}${c.desc === 1 ? ' DESC' : ''}${c.coll.toUpperCase() === 'BINARY' ? '' : ` COLLATE ${c.coll}`}`).join(', ');
  const wantText = shape.key.join(', ');
  return keyText === wantText ? undefined : `has primary key \`(${keyText})\` where the migrations give \`(${wantText})\``;
}

/**
 * The problem of a ledger table whose shape differs from the migrations' (not STRICT,
 * another primary key, a non-INTEGER seq, other columns, a view, missing), or undefined.
 * A few schema pragmas: no row is read. Call it inside verify's read transaction.
 */
export function tableShapeProblem(db: Db): RangeProblem | undefined {
  for (const shape of LEDGER_TABLE_SHAPES) {
    const difference = differenceOf(db, shape);
    if (difference !== undefined) {
      return { seq: 0, problem: 'schema_altered', message: `table \`${shape.name}\` ${difference}: it was rebuilt outside the migrations, so verify cannot vouch for every row` };
    }
  }
  return undefined;
}
