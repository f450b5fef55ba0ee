// File loaders: Markdown, plain text, HTML (→ text) and JSON/JSONL records, each turned
// into documents with a source URI, title and text. Loaders only read; they never decide
// tenant, readers or labels (the caller does).
import { lstatSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { convert } from 'html-to-text';
import { isWritError, loneSurrogateAt, loneSurrogateProblem, WritError } from '../core/index.js';
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

/** An entry of a folder that could not be listed or read, with the typed error that says why. */
export interface ListingFailure {
  readonly path: string;
  readonly code: string;
  readonly message: string;
}

/** Why an entry found inside a folder cannot be used (a dangling or looping link, no permission). */
function entryError(p: string, cause: unknown, doing: 'read' | 'list'): WritError {
  const code = (cause as NodeJS.ErrnoException).code;
  let link: string | undefined;
  try {
    if (lstatSync(p).isSymbolicLink()) link = readlinkSync(p);
  } catch {
    // Not even the entry itself can be read: the cause says why.
  }
  const message =
    link !== undefined && (code === 'ENOENT' || code === 'ENOTDIR')
      ? `\`${p}\` is a symbolic link to \`${link}\`, which does not exist: fix or remove the link`
      : link !== undefined && code === 'ELOOP'
        ? `\`${p}\` is a symbolic link that loops (\`${link}\`): fix or remove the link`
        : code === 'EACCES' || code === 'EPERM'
          ? `cannot ${doing} \`${p}\`: permission denied: make it readable for the user running Writ, or move it out of the folder`
          : `cannot ${doing} \`${p}\`: ${(cause as Error).message}`;
  return new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, message, { cause, details: { path: p, ...(code ? { errno: code } : {}), ...(link !== undefined ? { link } : {}) } });
}

/**
 * Every loadable file under the given files/folders, sorted, skipping dot-folders and
 * node_modules. Inside a folder, files of other types are skipped; a file named explicitly
 * must be loadable, since skipping it would report success for something never ingested.
 *
 * An entry found inside a folder that cannot be used — a symbolic link to nothing, a
 * subfolder that cannot be listed — goes to `failures` when it is given (the listing goes
 * on: one bad entry does not stop a folder ingest), and is thrown otherwise. A link to a
 * folder above it (a loop) is listed once.
 *
 * @throws WritError RETRIEVAL_LOAD_FAILED for a missing path or an explicitly named file of an unsupported type (and for a bad entry inside a folder, without `failures`).
 */
export function listLoadableFiles(paths: readonly string[], failures?: ListingFailure[]): string[] {
  const out = new Set<string>();
  const fail = (error: WritError): void => {
    if (failures === undefined) throw error;
    failures.push({ path: String(error.details.path), code: error.code, message: error.message });
  };
  // Real paths of the folders being walked, outermost first: a link back to one is a loop.
  const walking: string[] = [];
  const walk = (p: string, named: boolean): void => {
    let st: Stats;
    try {
      st = statSync(p);
    } catch (cause) {
      if (named) throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `cannot read \`${p}\``, { cause, details: { path: p } });
      fail(entryError(p, cause, 'read'));
      return;
    }
    if (st.isDirectory()) {
      let names: string[];
      let real: string;
      try {
        real = realpathSync(p);
        names = readdirSync(p).sort();
      } catch (cause) {
        if (named) throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `cannot list \`${p}\`: ${(cause as Error).message}`, { cause, details: { path: p } });
        fail(entryError(p, cause, 'list'));
        return;
      }
      if (walking.includes(real)) return;
      walking.push(real);
      for (const name of names) {
        if (name.startsWith('.') || name === 'node_modules') continue;
        walk(join(p, name), false);
      }
      walking.pop();
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

/** RETRIEVAL_LOAD_FAILED for a record field holding a lone surrogate (a JSON `\\ud800` escape). */
function checkWellFormed(value: string, baseUri: string, record: number, field: string): void {
  const at = loneSurrogateAt(value);
  if (at < 0) return;
  throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `record ${record} of \`${baseUri}\`: field \`${field}\` ${loneSurrogateProblem(value, at)}: replace or remove it`, {
    details: { source: baseUri, record, field, offset: at },
  });
}

/**
 * Turns parsed JSON records into documents; `baseUri#id` names each one. Two records with
 * one name are refused (naming both): ingesting both would keep only the last, silently.
 */
export function recordsToDocuments(records: unknown[], baseUri: string, fields: RecordFields = {}): LoadedDocument[] {
  const textField = fields.textField ?? 'text';
  const titleField = fields.titleField ?? 'title';
  const docs: LoadedDocument[] = [];
  // Document name → the record number that took it.
  const named = new Map<string, number>();
  records.forEach((record, i) => {
    const n = i + 1;
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `record ${n} of \`${baseUri}\` is not an object`, { details: { source: baseUri, record: n } });
    }
    const r = record as Record<string, unknown>;
    const text = fieldString(r, textField);
    if (text === undefined) {
      throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `record ${n} of \`${baseUri}\` has no text field \`${textField}\``, {
        details: { source: baseUri, record: n, textField },
      });
    }
    const idField = fields.idField ?? (fieldString(r, '_id') !== undefined ? '_id' : 'id');
    const ownId = fieldString(r, idField);
    const id = ownId ?? String(n);
    const title = fieldString(r, titleField) ?? '';
    checkWellFormed(text, baseUri, n, textField);
    if (title) checkWellFormed(title, baseUri, n, titleField);
    if (ownId !== undefined) checkWellFormed(ownId, baseUri, n, idField);
    const sourceUri = `${baseUri}#${encodeURIComponent(id)}`;
    const first = named.get(sourceUri);
    if (first !== undefined) {
      throw new WritError(
        RetrievalErrors.RETRIEVAL_LOAD_FAILED,
        `records ${first} and ${n} of \`${baseUri}\` have the same id \`${id}\`: give each record its own \`${idField}\`, or remove the duplicate`,
        { details: { source: baseUri, id, records: [first, n], idField } },
      );
    }
    named.set(sourceUri, n);
    // Title + text is the document (the BEIR/trec_eval convention).
    docs.push({ sourceUri, title: derivedTitle(title), text: title ? `${title}\n\n${text}` : text, format: 'json' });
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
  try {
    return loadText(raw, format, uri, basename(abs, extname(abs)), fields);
  } catch (cause) {
    if (isWritError(cause)) throw cause;
    // A parser that fails on a file's content fails that file, with a typed error.
    throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `cannot load \`${abs}\`: ${(cause as Error).message}`, { cause, details: { path: abs } });
  }
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

/** The longest title a document may have (as `DocumentInputSchema` allows). */
export const MAX_TITLE_CHARS = 1000;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * A title taken from a document's own text (its first heading, `<title>`, a record's title
 * field), cut to `MAX_TITLE_CHARS` at a character boundary with `…` when longer. The whole
 * heading stays in the text: only the derived title is shortened, so no content is lost.
 */
export function derivedTitle(title: string): string {
  if (title.length <= MAX_TITLE_CHARS) return title;
  let end = 0;
  for (const { index, segment } of graphemes.segment(title.slice(0, MAX_TITLE_CHARS + 16))) {
    if (index + segment.length > MAX_TITLE_CHARS - 1) break;
    end = index + segment.length;
  }
  return `${title.slice(0, end).trimEnd()}…`;
}

const HTML_OPTIONS = {
  wordwrap: false as const,
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
};

/** HTML → text; RETRIEVAL_LOAD_FAILED when the markup nests too deeply for the converter. */
function htmlToText(html: string, sourceUri: string, options: Parameters<typeof convert>[1]): string {
  try {
    return convert(html, options);
  } catch (cause) {
    // html-to-text walks the element tree recursively: thousands of nested elements overflow the stack.
    if (cause instanceof RangeError) {
      throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `\`${sourceUri}\` nests its HTML elements too deeply to convert to text: flatten the markup, or convert the file to Markdown or text`, {
        cause,
        details: { source: sourceUri },
      });
    }
    throw cause;
  }
}

/** The records of a JSON file: one JSON value (an object, or an array of objects), or JSON lines. */
function parseRecords(text: string, sourceUri: string): unknown[] {
  const trimmed = text.trim();
  let whole: unknown;
  let wholeError: unknown;
  try {
    whole = JSON.parse(trimmed);
  } catch (cause) {
    wholeError = cause;
  }
  if (wholeError === undefined) {
    if (Array.isArray(whole)) return whole;
    if (typeof whole === 'object' && whole !== null) return [whole];
    throw new WritError(RetrievalErrors.RETRIEVAL_LOAD_FAILED, `\`${sourceUri}\` holds a JSON ${whole === null ? 'null' : typeof whole}: give it an object, an array of objects or one object per line`, {
      details: { source: sourceUri },
    });
  }
  const lines = text.split('\n');
  const records: unknown[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line));
    } catch (cause) {
      // A first line that is no JSON value of its own: the file is one (broken) JSON value.
      const asLines = records.length > 0;
      const reason = ((asLines ? cause : wholeError) as Error).message;
      throw new WritError(
        RetrievalErrors.RETRIEVAL_LOAD_FAILED,
        asLines ? `\`${sourceUri}\` is not valid JSON lines: line ${i + 1}: ${reason}` : `\`${sourceUri}\` is not valid JSON or JSON lines: ${reason}`,
        { cause: asLines ? cause : wholeError, details: { source: sourceUri, ...(asLines ? { line: i + 1 } : {}) } },
      );
    }
  }
  return records;
}

/** Parses text of a known format; `fallbackTitle` names documents without a title. */
export function loadText(raw: string, format: ContentFormat, sourceUri: string, fallbackTitle: string, fields: RecordFields = {}): LoadedDocument[] {
  const text = raw.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  switch (format) {
    case 'markdown': {
      const h1 = /^#\s+(.+?)\s*#*\s*$/m.exec(text);
      return [{ sourceUri, title: h1 ? derivedTitle(h1[1] as string) : fallbackTitle, text, format }];
    }
    case 'text':
      return [{ sourceUri, title: fallbackTitle, text, format }];
    case 'html': {
      const t = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(text);
      const body = htmlToText(text, sourceUri, HTML_OPTIONS);
      const title = t ? htmlToText(t[1] as string, sourceUri, { wordwrap: false }).trim() : fallbackTitle;
      return [{ sourceUri, title: derivedTitle(title || fallbackTitle), text: body, format }];
    }
    case 'json':
      return recordsToDocuments(parseRecords(text, sourceUri), sourceUri, fields);
  }
}
