// Query words as the FTS index sees them: each word's FTS5 phrase, its key (the token the
// index's own tokenizer makes of it, so "study" and "studies" share one key, "studi"), the
// SQL of one word's score list, and the index state lists belong to. Shared by the search
// thread and the score-list worker, so both read lists and states the same way (plain JS,
// which a worker can load without the TypeScript loader).

/** A word as one quoted FTS5 phrase, so no FTS query syntax gets through. */
export function phraseOf(word) {
  return `"${word.replace(/"/g, '""')}"`;
}

/** Every row matching one phrase with its one-phrase BM25 score (params: 3 column weights, phrase). */
export const TERM_LIST_SQL = 'SELECT rowid, -bm25(chunks_fts, ?, ?, ?) FROM chunks_fts WHERE chunks_fts MATCH ?';

/** The FTS index's averages (1) and structure (10) records: both change with every write. */
export const FTS_STATE_SQL = 'SELECT block FROM chunks_fts_data WHERE id IN (1, 10) ORDER BY id';

/** The index state named by the blocks `FTS_STATE_SQL` returns. */
export function ftsStateOf(blocks) {
  return blocks.map((b) => b.toString('hex')).join('/');
}

/** The `tokenize` option of `chunks_fts`, read from its schema (so it always matches the index). */
export function tokenizerOf(db) {
  const sql = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'chunks_fts'").pluck().get();
  const m = /tokenize\s*=\s*'((?:[^']|'')*)'/i.exec(sql ?? '');
  return m ? m[1].replace(/''/g, "'") : 'unicode61';
}

/** Marks keys of words that are not one token: they never equal a token. */
const WHOLE = '\u0000';

/**
 * A function from words to keys on `db`'s connection: the word's single token under the FTS
 * index's tokenizer, or `\0word` when it makes zero or several tokens. Uses a TEMP FTS5 table
 * (private to this connection, never in the database file); results are cached.
 */
export function createWordKeys(db, maxCached = 100_000) {
  let ready = false;
  let ins;
  let read;
  let clear;
  const cache = new Map();
  const prepare = () => {
    const tokenize = tokenizerOf(db).replace(/'/g, "''");
    db.exec(`CREATE VIRTUAL TABLE IF NOT EXISTS temp.writ_query_words USING fts5 (w, tokenize = '${tokenize}')`);
    db.exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.writ_query_words_v USING fts5vocab (temp, writ_query_words, 'instance')");
    ins = db.prepare('INSERT INTO temp.writ_query_words (rowid, w) VALUES (?, ?)');
    read = db.prepare('SELECT doc, term FROM temp.writ_query_words_v').raw();
    clear = db.prepare('DELETE FROM temp.writ_query_words');
    ready = true;
  };
  return (words) => {
    const unknown = words.filter((w) => !cache.has(w));
    if (unknown.length > 0) {
      if (!ready) prepare();
      const tokens = new Map();
      for (let i = 0; i < unknown.length; i++) ins.run(i + 1, unknown[i]);
      try {
        for (const [doc, term] of read.all()) tokens.set(doc, tokens.has(doc) ? null : term);
      } finally {
        clear.run();
      }
      if (cache.size + unknown.length > maxCached) cache.clear();
      unknown.forEach((w, i) => {
        const t = tokens.get(i + 1);
        cache.set(w, typeof t === 'string' ? t : WHOLE + w);
      });
    }
    return words.map((w) => cache.get(w));
  };
}
