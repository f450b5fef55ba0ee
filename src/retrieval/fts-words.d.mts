import type Database from 'better-sqlite3';

/** The `tokenize` option of `chunks_fts`, read from its schema. */
export function tokenizerOf(db: Database.Database): string;
/** A function from words to their keys (the single token the FTS index makes of each, or `\0word`). */
export function createWordKeys(db: Database.Database, maxCached?: number): (words: readonly string[]) => string[];
