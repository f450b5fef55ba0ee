// The content of chunks by number, cached per connection for the final re-check: reading
// the text and metadata of every candidate on every search was half of the re-check's cost
// (sample workspace, 7 rows: 92 → 51 µs). A chunk's content never changes: new content is a
// new version with new chunks, and an old chunk is only deactivated. Whether a chunk may be
// returned is never taken from here: the re-check asks SQLite every time.
import { statement, type Db } from '../store/index.js';

/** [id, documentId, version, heading, text, contentHash, charStart, charEnd] */
export type ChunkContent = readonly [
  id: string, documentId: string, version: number, heading: string, text: string, contentHash: string, charStart: number, charEnd: number,
];

/** Characters of chunk text the cache of one connection holds; the oldest entries leave first. */
export const CHUNK_CONTENT_CACHE_CHARS = 8_000_000;

interface Cache {
  readonly rows: Map<number, ChunkContent>;
  chars: number;
}

const caches = new WeakMap<Db, Cache>();

/**
 * The content of chunks `wanted` (chunk number → chunk id, as the caller just read it), from
 * the cache or SQLite. An entry whose id differs from the one given is read again, so a
 * chunk number used twice (never done by Writ) can not serve another chunk's text.
 */
export function chunkContents(db: Db, wanted: ReadonlyMap<number, string>, maxChars = CHUNK_CONTENT_CACHE_CHARS): Map<number, ChunkContent> {
  let cache = caches.get(db);
  if (cache === undefined) caches.set(db, (cache = { rows: new Map(), chars: 0 }));
  const out = new Map<number, ChunkContent>();
  const missing: number[] = [];
  for (const [seq, id] of wanted) {
    const hit = cache.rows.get(seq);
    if (hit !== undefined && hit[0] === id) out.set(seq, hit);
    else missing.push(seq);
  }
  if (missing.length === 0) return out;
  const rows = statement(db,
    `SELECT c.seq, c.id, c.document_id, c.version, c.heading, c.text, c.content_hash, c.char_start, c.char_end
     FROM json_each(?) j CROSS JOIN chunks c ON c.seq = j.value`,
  ).raw(true).all(JSON.stringify(missing)) as Array<[number, ...ChunkContent]>;
  for (const [seq, ...content] of rows) {
    out.set(seq, content);
    const old = cache.rows.get(seq);
    if (old !== undefined) {
      cache.rows.delete(seq);
      cache.chars -= old[4].length;
    }
    cache.rows.set(seq, content);
    cache.chars += content[4].length;
  }
  for (const [seq, content] of cache.rows) {
    if (cache.chars <= maxChars) break;
    cache.rows.delete(seq);
    cache.chars -= content[4].length;
  }
  return out;
}
