import type Database from 'better-sqlite3';

/** The `tokenize` option of `chunks_fts`, read from its schema. */
export function tokenizerOf(db: Database.Database): string;
/** A function from words to their keys (the single token the FTS index makes of each, or `\0word`). */
export function createWordKeys(db: Database.Database, maxCached?: number): (words: readonly string[]) => string[];
/** A word as one quoted FTS5 phrase. */
export function phraseOf(word: string): string;
/** Every row matching one phrase with its one-phrase BM25 score (params: 3 column weights, phrase). */
export const TERM_LIST_SQL: string;
/** The FTS index's averages and structure records: both change with every write. */
export const FTS_STATE_SQL: string;
/** The index state named by the blocks `FTS_STATE_SQL` returns. */
export function ftsStateOf(blocks: readonly Buffer[]): string;
