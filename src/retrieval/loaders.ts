// File loaders: Markdown, plain text, HTML (→ text) and JSON/JSONL records, each turned
// into documents with a source URI, title and text. Loaders only read; they never decide
// tenant, readers or labels (the caller does).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { convert } from 'html-to-text';
import { WritError } from '../core/index.js';
import { RetrievalErrors } from './errors.js';

/** Formats a loader understands. */
export type ContentFormat = 'markdown' | 'text' | 'html' | 'json';

/** A document as read from a source, before tenant/readers are attached. */
export interface LoadedDocument {
  readonly sourceUri: string;
  readonly title: string;
  readonly text: string;
  readonly format: ContentFormat;
}

/** Which record fields JSON/JSONL loaders read. */
export interface RecordFields {
  /** Field holding the text (default `text`). */
  readonly textField?: string;
  /** Field holding the title (default `title`); prepended to the text when present. */
  readonly titleField?: string;
  /** Field holding a stable record id (default `_id`, then `id`); else the line number. */
  readonly idField?: string;
}

const EXTENSIONS: Record<string, ContentFormat> = {
  '.md': 'markdown', '.markdown': 'markdown', '.mdx': 'markdown',
  '.txt': 'text', '.text': 'text', '.rst': 'text',
  '.html': 'html', '.htm': 'html',
  '.json': 'json', '.jsonl': 'json', '.ndjson': 'json',
};

/** The format of a file by its extension, or undefined when Writ does not load it. */
export function formatOf(path: string): ContentFormat | undefined {
  return EXTENSIONS[extname(path).toLowerCase()];
}

/** The file extensions Writ loads, for error messages (`.md, .markdown, …`). */
export const SUPPORTED_EXTENSIONS: readonly string[] = Object.freeze(Object.keys(EXTENSIONS));

function unsupportedFile(path: string): WritError {
  const ext = extname(path) || '(none)';
  return new WritError(
    RetrievalErrors.RETRIEVAL_LOAD_FAILED,
    `unsupported file type \`${ext}\`: \`${path}\`: convert it to one of ${SUPPORTED_EXTENSIONS.join(', ')}`,
    { details: { path, extension: ext, supported: [...SUPPORTED_EXTENSIONS] } },
  );
}

/**
 * Every loadable file under the given files/folders, sorted, skipping dot-folders and
 * node_modules. Inside a folder, files of other types are skipped; a file named explicitly
 * must be loadable, since skipping it would report success for something never ingested.
 *
 * @throws WritError RETRIEVAL_LOAD_FAILED for a missing path or an explicitly named file of an unsupported type.
 */
export function listLoadableFiles(paths: readonly string[]): string[] {
  const out = new Set<string>();
  const walk = (p: string, named: boolean): void => {
    let st;
    try {
      st = statSync(p);
    } catch (cause) {
      throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `cannot read \`${p}\``, { cause, details: { path: p } });
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) {
        if (name.startsWith('.') || name === 'node_modules') continue;
        walk(join(p, name), false);
      }
    } else if (st.isFile() && formatOf(p) !== undefined) out.add(p);
    else if (named) throw unsupportedFile(p);
  };
  // All named paths are checked before any is returned, so a bad one stops the ingest before it starts.
  for (const p of paths) walk(resolve(p), true);
  return [...out].sort();
}

function fieldString(record: Record<string, unknown>, field: string): string | undefined {
  const v = record[field];
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

/** Turns parsed JSON records into documents; `baseUri#id` names each one. */
export function recordsToDocuments(records: unknown[], baseUri: string, fields: RecordFields = {}): LoadedDocument[] {
  const textField = fields.textField ?? 'text';
  const titleField = fields.titleField ?? 'title';
  const docs: LoadedDocument[] = [];
  records.forEach((record, i) => {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `record ${i + 1} of \`${baseUri}\` is not an object`, { details: { source: baseUri, record: i + 1 } });
    }
    const r = record as Record<string, unknown>;
    const text = fieldString(r, textField);
    if (text === undefined) {
      throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `record ${i + 1} of \`${baseUri}\` has no text field \`${textField}\``, {
        details: { source: baseUri, record: i + 1, textField },
      });
    }
    const id = (fields.idField ? fieldString(r, fields.idField) : (fieldString(r, '_id') ?? fieldString(r, 'id'))) ?? String(i + 1);
    const title = fieldString(r, titleField) ?? '';
    // Title + text is the document (the BEIR/trec_eval convention).
    docs.push({ sourceUri: `${baseUri}#${encodeURIComponent(id)}`, title, text: title ? `${title}\n\n${text}` : text, format: 'json' });
  });
  return docs;
}

/**
 * Reads one file into documents (one for Markdown/text/HTML, one per record for JSON/JSONL).
 *
 * @example
 * loadFile('docs/guide.md') // [{ sourceUri: 'file:///…/guide.md', title: 'Guide', text: '# Guide…', format: 'markdown' }]
 */
export function loadFile(path: string, fields: RecordFields = {}): LoadedDocument[] {
  const abs = resolve(path);
  const format = formatOf(abs);
  if (format === undefined) throw unsupportedFile(abs);
  let bytes: Buffer;
  try {
    bytes = readFileSync(abs);
  } catch (cause) {
    throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `cannot read \`${abs}\``, { cause, details: { path: abs } });
  }
  const raw = decodeUtf8(bytes, abs);
  const uri = pathToFileURL(abs).href;
  return loadText(raw, format, uri, basename(abs, extname(abs)), fields);
}

// Fatal: a lenient decode turns every invalid byte into U+FFFD and the text is stored
// damaged, without a word (a Latin-1 `é` becomes `\uFFFD`).
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The file's text; RETRIEVAL_LOAD_FAILED naming the path when it is not UTF-8. */
function decodeUtf8(bytes: Uint8Array, path: string): string {
  try {
    return UTF8.decode(bytes);
  } catch (cause) {
    throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `\`${path}\` is not valid UTF-8: convert it to UTF-8 (e.g. \`iconv -f latin1 -t utf-8\`)`, {
      cause,
      details: { path, encoding: 'utf-8' },
    });
  }
}

/** Parses text of a known format; `fallbackTitle` names documents without a title. */
export function loadText(raw: string, format: ContentFormat, sourceUri: string, fallbackTitle: string, fields: RecordFields = {}): LoadedDocument[] {
  const text = raw.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  switch (format) {
    case 'markdown': {
      const h1 = /^#\s+(.+?)\s*#*\s*$/m.exec(text);
      return [{ sourceUri, title: h1 ? (h1[1] as string) : fallbackTitle, text, format }];
    }
    case 'text':
      return [{ sourceUri, title: fallbackTitle, text, format }];
    case 'html': {
      const t = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(text);
      const body = convert(text, {
        wordwrap: false,
        selectors: [
          { selector: 'a', options: { ignoreHref: true } },
          { selector: 'img', format: 'skip' },
          { selector: 'h1', options: { uppercase: false } },
          { selector: 'h2', options: { uppercase: false } },
          { selector: 'h3', options: { uppercase: false } },
          { selector: 'h4', options: { uppercase: false } },
          { selector: 'h5', options: { uppercase: false } },
          { selector: 'h6', options: { uppercase: false } },
          { selector: 'table', options: { uppercaseHeaderCells: false } },
        ],
      });
      const title = t ? convert(t[1] as string, { wordwrap: false }).trim() : fallbackTitle;
      return [{ sourceUri, title: title || fallbackTitle, text: body, format }];
    }
    case 'json': {
      const trimmed = text.trim();
      let records: unknown[];
      try {
        if (trimmed.startsWith('[')) records = JSON.parse(trimmed) as unknown[];
        else if (trimmed.startsWith('{') && !trimmed.includes('\n')) records = [JSON.parse(trimmed)];
        else records = trimmed.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown);
      } catch (cause) {
        throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `\`${sourceUri}\` is not valid JSON or JSON lines`, { cause, details: { source: sourceUri } });
      }
      return recordsToDocuments(records, sourceUri, fields);
    }
  }
}
