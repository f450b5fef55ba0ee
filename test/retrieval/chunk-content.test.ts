// The chunk content cache of the final re-check: content comes from SQLite once, is matched by
// chunk id on every use, and the cache keeps to its size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { retrievalMigrations } from '../../src/retrieval/schema.js';
import { chunkContents } from '../../src/retrieval/chunk-content.js';

test('chunk contents come from SQLite, are matched by chunk id, and the cache keeps to its size', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'writ-chunk-content-'));
  const store = openStore({ path: join(dir, 'writ.db'), migrations: retrievalMigrations });
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const db = store.db;
  db.prepare(
    `INSERT INTO documents (id, tenant, source_uri, title, labels, readers, current_version, content_hash, chunk_count, status, created_at, updated_at)
     VALUES ('doc_a', 'acme', 'kb://a', 'A', '[]', '[]', 1, 'h', 3, 'active', '2026-11-26T00:00:00Z', '2026-11-26T00:00:00Z')`,
  ).run();
  const insert = db.prepare(
    `INSERT INTO chunks (seq, id, document_id, tenant, version, ordinal, heading, text, content_hash, char_start, char_end, active, in_vector_index)
     VALUES (?, ?, 'doc_a', 'acme', 1, ?, 'H', ?, ?, 0, ?, 1, 0)`,
  );
  const text = (n: number) => `chunk ${n} `.repeat(10);
  for (const n of [1, 2, 3]) insert.run(n, `chk_${n}`, n, text(n), `sha256:${n}`, text(n).length);

  const first = chunkContents(db, new Map([[1, 'chk_1'], [2, 'chk_2']]));
  assert.deepEqual(first.get(1), ['chk_1', 'doc_a', 1, 'H', text(1), 'sha256:1', 0, text(1).length]);
  assert.equal(first.get(2)?.[4], text(2));

  // Served from the cache: a change behind its back (never made by Writ) is not seen...
  db.prepare("UPDATE chunks SET text = 'changed' WHERE seq = 1").run();
  assert.equal(chunkContents(db, new Map([[1, 'chk_1']])).get(1)?.[4], text(1));
  // ...unless the chunk id differs: a number used for another chunk is read again.
  db.prepare('DELETE FROM chunks WHERE seq = 2').run();
  insert.run(2, 'chk_2b', 4, 'other text', 'sha256:2b', 10);
  assert.deepEqual(chunkContents(db, new Map([[2, 'chk_2b']])).get(2)?.slice(0, 1), ['chk_2b']);
  assert.equal(chunkContents(db, new Map([[2, 'chk_2b']])).get(2)?.[4], 'other text');

  // A bound of ~one chunk's text keeps only the newest entry: the oldest is read again.
  const bound = text(3).length;
  chunkContents(db, new Map([[3, 'chk_3']]), bound);
  db.prepare("UPDATE chunks SET text = 'changed 3' WHERE seq = 3").run();
  assert.equal(chunkContents(db, new Map([[3, 'chk_3']]), bound).get(3)?.[4], text(3), 'the newest entry stayed');
  assert.equal(chunkContents(db, new Map([[1, 'chk_1']]), bound).get(1)?.[4], 'changed', 'the oldest entry left the cache');
});
