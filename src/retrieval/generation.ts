// The generation of a database's searchable state (documents, chunks, readers, the FTS index):
// a number that changes whenever that state may have changed, so caches derived from it
// (selectivity, readable sets, term statistics) know when to start over. It is per
// connection, not per `Retrieval`: two retrievals on one store must see each other's writes
// at once. Writes by this connection are noted by ingest and revoke; writes by any other
// connection move SQLite's `data_version`.
import { statement, type Db } from '../store/index.js';

interface GenerationState {
  /** Searchable writes noted on this connection. */
  noted: number;
  /** `noted` and `data_version` when the generation last moved. */
  seenNoted: number;
  seenDataVersion: number;
  generation: number;
}

const states = new WeakMap<Db, GenerationState>();

function stateOf(db: Db): GenerationState {
  let s = states.get(db);
  if (s === undefined) states.set(db, (s = { noted: 0, seenNoted: 0, seenDataVersion: -1, generation: 0 }));
  return s;
}

/** Records a committed write by this connection that changed documents, chunks, readers or the FTS index. */
export function noteSearchableWrite(db: Db): void {
  stateOf(db).noted++;
}

/** The current generation of `db`'s searchable state (one `data_version` read). */
export function searchableGeneration(db: Db): number {
  const s = stateOf(db);
  const dataVersion = statement(db, 'PRAGMA data_version').pluck().get() as number;
  if (dataVersion !== s.seenDataVersion || s.noted !== s.seenNoted) {
    s.seenDataVersion = dataVersion;
    s.seenNoted = s.noted;
    s.generation++;
  }
  return s.generation;
}
