// Unit tests of what ingest and search refuse or keep: headings with no body, files named
// explicitly that Writ cannot load, text that is not UTF-8, queries with no word (no Chroma).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isWritError } from '../../src/core/index.js';
import { chunkText, listLoadableFiles, loadFile, RetrievalQuerySchema } from '../../src/retrieval/index.js';

const dir = mkdtempSync(join(tmpdir(), 'writ-input-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The non-blank characters of `text` that lie in no chunk. */
function uncovered(text: string, options: Parameters<typeof chunkText>[1]): string {
  const covered = new Uint8Array(text.length);
  for (const c of chunkText(text, options)) covered.fill(1, c.charStart, c.charEnd);
  let missing = '';
  for (let i = 0; i < text.length; i++) if (covered[i] === 0 && !/\s/.test(text[i] as string)) missing += text[i];
  return missing;
}

describe('chunk coverage', () => {
  test('a title-only Markdown document becomes one chunk holding the title', () => {
    const chunks = chunkText('# Out of office until Monday\n', { markdown: true });
    assert.deepEqual(chunks.map((c) => c.text), ['# Out of office until Monday']);
  });

  test('a document of headings only keeps every heading', () => {
    const text = '# Runbook\n\n## Restart the payment gateway\n\n## Rotate keys\n';
    assert.equal(uncovered(text, { markdown: true }), '');
    assert.match(chunkText(text, { markdown: true }).map((c) => c.text).join('\n'), /Rotate keys/);
  });

  test('a trailing heading with no body after it is kept in a chunk', () => {
    const text = `# Guide\n\n${'Body text. '.repeat(40)}\n\n## Appendix: emergency contact 555-0100\n`;
    const chunks = chunkText(text, { markdown: true });
    assert.equal(chunks.at(-1)?.text, '## Appendix: emergency contact 555-0100');
  });

  test('every non-blank character of a Markdown document lies in some chunk', () => {
    const word = fc.constantFrom('alpha', 'beta', 'gamma', '#', '##', '```', 'delta.', 'eps!', '\n', '\n\n', ' ');
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 300 }), (words) => {
        const text = words.join(' ');
        assert.equal(uncovered(text, { markdown: true, maxChars: 60, overlapChars: 20, minChars: 20 }), '');
      }),
      { numRuns: 500 },
    );
  });
});

describe('files named for ingest', () => {
  test('an explicitly named file of an unsupported type is refused with its path and the supported types', () => {
    const pdf = join(dir, 'manual.pdf');
    writeFileSync(pdf, '%PDF-1.4');
    assert.throws(() => listLoadableFiles([pdf]), (err) => {
      assert.ok(isWritError(err, 'RETRIEVAL_LOAD_FAILED'));
      assert.equal(err.details.path, pdf);
      assert.ok((err.details.supported as string[]).includes('.md'));
      assert.match(err.message, /`\.pdf`.*manual\.pdf.*\.md/);
      return true;
    });
  });

  test('inside a folder, files of other types are still skipped', () => {
    const folder = join(dir, 'kb');
    mkdirSync(folder);
    writeFileSync(join(folder, 'notes.md'), '# Notes\n\ntext');
    writeFileSync(join(folder, 'scan.pdf'), '%PDF-1.4');
    assert.deepEqual(listLoadableFiles([folder]), [join(folder, 'notes.md')]);
  });

  test('a file that is not valid UTF-8 is refused with its path, never stored with replacement characters', () => {
    const latin1 = join(dir, 'latin1.txt');
    writeFileSync(latin1, Buffer.from('Café menü price', 'latin1'));
    assert.throws(() => loadFile(latin1), (err) => {
      assert.ok(isWritError(err, 'RETRIEVAL_LOAD_FAILED'));
      assert.equal(err.details.path, latin1);
      assert.match(err.message, /not valid UTF-8.*convert it to UTF-8/);
      return true;
    });
  });

  test('valid UTF-8 with a byte-order mark loads unchanged', () => {
    const path = join(dir, 'bom.txt');
    writeFileSync(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Café menü', 'utf8')]));
    assert.equal(loadFile(path)[0]?.text, 'Café menü');
  });
});

describe('query text', () => {
  test('a query with no letter or digit is invalid input', () => {
    for (const query of ['   ', '\u0000', '?!', '\n\t']) {
      const parsed = RetrievalQuerySchema.safeParse({ query, k: 3 });
      assert.equal(parsed.success, false, JSON.stringify(query));
    }
    assert.equal(RetrievalQuerySchema.safeParse({ query: ' refund? ', k: 3 }).success, true);
    assert.equal(RetrievalQuerySchema.safeParse({ query: '42', k: 3 }).success, true);
  });
});
