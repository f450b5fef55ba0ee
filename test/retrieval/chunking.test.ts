// Unit tests of structure-aware chunking and the file loaders (no Chroma needed).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chunkText, loadText } from '../../src/retrieval/index.js';
import { ftsQueryOf, queryTerms } from '../../src/retrieval/lexical.js';

describe('chunking', () => {
  test('every chunk is a verbatim slice of the text and no chunk exceeds the size limit', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.lorem({ maxCount: 40 }), fc.constantFrom('\n\n', '\n# Head\n', '\n## Sub\n', '```\n# x\n```')), { maxLength: 40 }), fc.integer({ min: 60, max: 800 }), (parts, max) => {
        const text = parts.join('\n\n');
        for (const c of chunkText(text, { markdown: true, maxChars: max, overlapChars: Math.floor(max / 4), minChars: 20 })) {
          assert.equal(text.slice(c.charStart, c.charEnd), c.text);
          assert.ok(c.text.length <= max, `${c.text.length} > ${max}`);
        }
      }),
      { numRuns: 200 },
    );
  });

  test('headings start sections and give chunks their heading path; fenced code is not a heading', () => {
    const intro = 'Intro words. '.repeat(30);
    const text = `# Manual\n\n${intro}\n\n## Install\n\nRun the installer.\n\n\`\`\`\n# not a heading\n\`\`\`\n\n## Use\n\n${'Use it well. '.repeat(30)}`;
    const chunks = chunkText(text, { markdown: true, maxChars: 2000, overlapChars: 100, minChars: 20 });
    assert.deepEqual(chunks.map((c) => c.heading), ['Manual', 'Manual > Install', 'Manual > Use']);
    assert.match(chunks[1]!.text, /# not a heading/);
  });

  test('text with no space to cut at is cut between characters: never inside a surrogate pair or before a combining mark', () => {
    for (const unit of ['\u{1F600}', 'e\u0301', '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}', '漢字']) {
      for (const text of [`a${unit.repeat(1500)}`, `ab${unit.repeat(1500)}`]) {
        const chunks = chunkText(text);
        assert.ok(chunks.length > 1);
        for (const c of chunks) {
          assert.equal(c.text, text.slice(c.charStart, c.charEnd));
          assert.ok(c.text.isWellFormed(), `chunk ${c.ordinal} of ${JSON.stringify(unit)} holds half a pair`);
          assert.doesNotMatch(c.text, /^[\u0301\u200D]/u);
          assert.ok(c.text.length <= 2000);
        }
      }
    }
  });

  test('long paragraphs are split at sentence ends with overlap between neighbours', () => {
    const text = Array.from({ length: 20 }, (_, i) => `Sentence number ${i} is here.`).join(' ') + '\n\n' + 'Tail paragraph.';
    const chunks = chunkText(text, { maxChars: 200, overlapChars: 60, minChars: 10 });
    assert.ok(chunks.length > 2);
    for (const c of chunks.slice(0, -1)) assert.match(c.text, /\.$/);
  });
});

describe('loaders and query terms', () => {
  test('JSON lines become one document per record, title prepended, named by id', () => {
    const docs = loadText('{"_id":"7","title":"T","text":"body"}\n{"_id":"8","text":"two"}\n', 'json', 'file:///x.jsonl', 'x');
    assert.deepEqual(docs.map((d) => [d.sourceUri, d.title, d.text]), [
      ['file:///x.jsonl#7', 'T', 'T\n\nbody'],
      ['file:///x.jsonl#8', '', 'two'],
    ]);
    assert.throws(() => loadText('{"_id":"1"}', 'json', 'file:///y.jsonl', 'y'), /no text field/);
  });

  test('a JSON file may hold one value (an object or an array of records, pretty-printed or not); a broken line of JSON lines is named', () => {
    const one = loadText('{\n  "id": "p1",\n  "text": "one"\n}\n', 'json', 'file:///p.json', 'p');
    assert.deepEqual(one.map((d) => [d.sourceUri, d.text]), [['file:///p.json#p1', 'one']]);
    const many = loadText('[\n  {"id": "a", "text": "A"},\n  {"id": "b", "text": "B"}\n]\n', 'json', 'file:///m.json', 'm');
    assert.deepEqual(many.map((d) => d.sourceUri), ['file:///m.json#a', 'file:///m.json#b']);
    assert.throws(() => loadText('{"id":"1","text":"a"}\n{"id": BROKEN\n', 'json', 'file:///b.jsonl', 'b'), /is not valid JSON lines: line 2:/);
    assert.throws(() => loadText('{\n  "id": "p1",\n  "text": \n}\n', 'json', 'file:///q.json', 'q'), /is not valid JSON or JSON lines/);
    assert.throws(() => loadText('"just a string"', 'json', 'file:///s.json', 's'), /holds a JSON string: give it an object/);
  });

  test('a title taken from a heading over 1,000 characters is cut at a character boundary; the heading stays whole in the text', () => {
    const heading = `e\u0301${'😀'.repeat(600)}`;
    const [d] = loadText(`# ${heading}\n\nbody`, 'markdown', 'file:///l.md', 'l');
    assert.ok(d!.title.length <= 1000 && d!.title.isWellFormed() && d!.title.endsWith('…'));
    assert.ok(d!.text.includes(heading));
  });

  test('HTML loses scripts and markup; the title comes from <title>', () => {
    const [d] = loadText('<html><head><title>Hours</title><script>steal()</script></head><body><p>Open <i>daily</i></p></body></html>', 'html', 'file:///h.html', 'h');
    assert.equal(d!.title, 'Hours');
    assert.equal(d!.text.trim(), 'Open daily');
  });

  test('query text can never inject FTS5 syntax', () => {
    const q = ftsQueryOf(queryTerms('title:secret OR NEAR("a" b) * -x ^y'));
    assert.equal(q, '"title" OR "secret" OR "near" OR "b" OR "x" OR "y"');
  });
});
