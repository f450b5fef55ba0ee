// A fast tokenizer for word-level static models: reads the same tokenizer.json that
// transformers.js loads (BertNormalizer + BertPreTokenizer + a WordPiece vocabulary without
// `##` continuation pieces + [CLS]/[SEP] post-processing) and gives the same ids, with a
// one pass over the text that splits, hashes and looks up each word in place instead of the
// library's per-character regex work.

/** Subset of the tokenizer.json fields this tokenizer reads. */
export interface TokenizerJson {
  readonly added_tokens?: ReadonlyArray<{ id: number; content: string; lstrip?: boolean; rstrip?: boolean; special?: boolean }>;
  readonly normalizer?: { type?: string; clean_text?: boolean; handle_chinese_chars?: boolean; lowercase?: boolean; strip_accents?: boolean | null } | null;
  readonly pre_tokenizer?: { type?: string } | null;
  readonly post_processor?: { type?: string; cls?: [string, number]; sep?: [string, number] } | null;
  readonly model?: { type?: string; vocab?: Record<string, number>; unk_token?: string; continuing_subword_prefix?: string; max_input_chars_per_word?: number };
}

/** Subset of tokenizer_config.json this tokenizer reads. */
export interface TokenizerConfigJson {
  readonly model_max_length?: number;
  readonly remove_space?: boolean;
  readonly do_lowercase_and_remove_accent?: boolean;
}

// Same character classes as transformers.js' BertPreTokenizer (and the Rust tokenizers crate).
const PUNCTUATION = '\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E';
const NOT_SIMPLE_ASCII = /[^\x09\x0a\x0d\x20-\x7e]/;
const COMBINING_MARKS = /[\u0300-\u036f]/g;
const REMOVED_CHARS = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\uFFFD]/gu;
const CJK_UNITS = /[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF]/;
const CJK_UNITS_G = /[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF]/g;

/**
 * BERT normalization with clean_text, handle_chinese_chars, lowercase and strip_accents on,
 * written to match transformers.js 2.17.2 character for character (including its quirks:
 * CJK detection per UTF-16 unit, accents stripped as U+0300–U+036F after NFD).
 */
export function normalizeBertText(text: string): string {
  // Plain printable ASCII (plus tab/newline/CR, which the split treats as spaces) needs only lowercasing.
  if (!NOT_SIMPLE_ASCII.test(text)) return text.toLowerCase();
  // clean_text: drop control/format/private/surrogate code points and U+FFFD (keeping \t \n \r), then
  // map whitespace to ' '. transformers.js tests each code point; a /u regex over the string matches the same set.
  const cleaned = text.replace(REMOVED_CHARS, (m) => (m === '\t' || m === '\n' || m === '\r' ? m : '')).replace(/\s/g, ' ');
  // transformers.js compares single UTF-16 units, so only the BMP CJK ranges can ever match.
  const spaced = CJK_UNITS.test(cleaned) ? cleaned.replace(CJK_UNITS_G, ' $& ') : cleaned;
  return spaced.toLowerCase().normalize('NFD').replace(COMBINING_MARKS, '');
}

// Character classes of printable ASCII for the scanner: 0 splits (space, \t, \n, \r), 1 is part of a
// word, 2 is punctuation (a token of its own) — the ASCII part of BertPreTokenizer's rule.
const ASCII_CLASS = (() => {
  const t = new Uint8Array(128).fill(1);
  for (const c of [9, 10, 13, 32]) t[c] = 0;
  for (const [a, b] of [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]] as const) for (let c = a; c <= b; c++) t[c] = 2;
  return t;
})();

const PUNCTUATION_CHAR = new RegExp(`^[${PUNCTUATION}]$`, 'u');
const WHITESPACE_CHAR = /^\s$/u;
const classCache = new Map<number, number>();

/** Split class of a code point ≥ 128, as BertPreTokenizer's regex sees it (cached). */
function classOf(cp: number): number {
  let cls = classCache.get(cp);
  if (cls === undefined) {
    const ch = String.fromCodePoint(cp);
    cls = WHITESPACE_CHAR.test(ch) ? 0 : PUNCTUATION_CHAR.test(ch) ? 2 : 1;
    classCache.set(cp, cls);
  }
  return cls;
}

/**
 * An allocation-free word lookup: open addressing over FNV-1a hashes of UTF-16 units, the words'
 * units in one pool. Lets the scanner look words up straight from the input text (lowercasing
 * ASCII as it compares, when asked) without slicing strings.
 */
class UnitVocab {
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly offsets: Int32Array;
  private readonly lengths: Int32Array;
  private readonly ids: Int32Array;
  private readonly pool: Uint16Array;

  constructor(vocab: ReadonlyMap<string, number>) {
    const words: Array<[string, number]> = [];
    let units = 0;
    for (const [w, id] of vocab) {
      if (w.length === 0) continue;
      words.push([w, id]);
      units += w.length;
    }
    let size = 1;
    while (size < words.length * 2) size <<= 1;
    this.mask = size - 1;
    this.slots = new Int32Array(size).fill(-1);
    this.offsets = new Int32Array(words.length);
    this.lengths = new Int32Array(words.length);
    this.ids = new Int32Array(words.length);
    this.pool = new Uint16Array(units);
    let off = 0;
    words.forEach(([w, id], e) => {
      let h = 0x811c9dc5;
      for (let i = 0; i < w.length; i++) {
        const c = w.charCodeAt(i);
        this.pool[off + i] = c;
        h = Math.imul(h ^ c, 0x01000193);
      }
      this.offsets[e] = off;
      this.lengths[e] = w.length;
      this.ids[e] = id;
      off += w.length;
      let slot = h & this.mask;
      while (this.slots[slot] !== -1) slot = (slot + 1) & this.mask;
      this.slots[slot] = e;
    });
  }

  /** Id of text[start, end) (ASCII lowercased when `lower`), given its hash; -1 when unknown. */
  find(text: string, start: number, end: number, hash: number, lower: boolean): number {
    const len = end - start;
    let slot = hash & this.mask;
    for (;;) {
      const e = this.slots[slot]!;
      if (e === -1) return -1;
      if (this.lengths[e] === len) {
        const off = this.offsets[e]!;
        let k = 0;
        for (; k < len; k++) {
          let c = text.charCodeAt(start + k);
          if (lower && c >= 65 && c <= 90) c += 32;
          if (this.pool[off + k] !== c) break;
        }
        if (k === len) return this.ids[e]!;
      }
      slot = (slot + 1) & this.mask;
    }
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Word-level tokenizer equivalent to the transformers.js tokenizer for the bundled model. */
export class WordTokenizer {
  readonly vocabSize: number;
  /** Largest token id. */
  readonly maxId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  readonly maxLength: number;
  /** Ids of the added (special) tokens and [UNK]. */
  readonly specialIds: readonly number[];
  // The vocabulary lives only in typed arrays: a 225k-entry Map of strings would be ~13 MB of
  // heap objects for every full GC to mark (measured: mark-compact pauses in the search tail).
  private readonly units: UnitVocab;
  private readonly added: Map<string, number>;
  private readonly addedRegex: RegExp | null;

  private constructor(vocab: Map<string, number>, added: Map<string, number>, ids: { unk: number; cls: number; sep: number; pad: number }, maxLength: number) {
    this.units = new UnitVocab(vocab);
    this.added = added;
    this.addedRegex = added.size > 0 ? new RegExp([...added.keys()].map((t) => `(${escapeRegExp(t)})`).join('|')) : null;
    this.unkId = ids.unk;
    this.clsId = ids.cls;
    this.sepId = ids.sep;
    this.padId = ids.pad;
    this.maxLength = maxLength;
    this.specialIds = [...new Set([...added.values(), ids.unk])];
    this.vocabSize = vocab.size;
    let maxId = 0;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    this.maxId = maxId;
  }

  /**
   * Builds the fast tokenizer when `tokenizer.json` has the shape it reproduces exactly;
   * returns null otherwise (the caller then uses the transformers.js tokenizer).
   */
  static fromJson(json: TokenizerJson, config: TokenizerConfigJson = {}): WordTokenizer | null {
    const n = json.normalizer;
    const m = json.model;
    const post = json.post_processor;
    if (n?.type !== 'BertNormalizer' || n.clean_text !== true || n.handle_chinese_chars !== true || n.lowercase !== true || n.strip_accents === false) return null;
    if (json.pre_tokenizer?.type !== 'BertPreTokenizer') return null;
    if (config.remove_space === true || config.do_lowercase_and_remove_accent === true) return null;
    if (m?.type !== 'WordPiece' || m.vocab === undefined || m.unk_token === undefined) return null;
    if (post?.type !== 'BertProcessing' || post.cls === undefined || post.sep === undefined) return null;
    const prefix = m.continuing_subword_prefix ?? '##';
    const maxChars = m.max_input_chars_per_word ?? 100;
    const vocab = new Map<string, number>();
    for (const [word, id] of Object.entries(m.vocab)) {
      // Continuation pieces would make WordPiece split unknown words; not reproduced here.
      if (prefix !== '' && word.startsWith(prefix)) return null;
      if ([...word].length > maxChars) continue;
      vocab.set(word, id);
    }
    const added = new Map<string, number>();
    for (const t of json.added_tokens ?? []) {
      if (t.lstrip === true || t.rstrip === true) return null;
      added.set(t.content, t.id);
      vocab.set(t.content, t.id);
    }
    const unk = vocab.get(m.unk_token);
    const cls = vocab.get(post.cls[0]);
    const sep = vocab.get(post.sep[0]);
    const pad = vocab.get('[PAD]') ?? 0;
    if (unk === undefined || cls === undefined || sep === undefined) return null;
    const maxLength = config.model_max_length ?? Number.MAX_SAFE_INTEGER;
    return new WordTokenizer(vocab, added, { unk, cls, sep, pad }, maxLength);
  }

  /** The id of a normalized word, or the [UNK] id. */
  idOf(word: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193);
    const id = word.length === 0 ? -1 : this.units.find(word, 0, word.length, h, false);
    return id === -1 ? this.unkId : id;
  }

  /** Appends the ids of one section of plain text (no added tokens inside). */
  private encodeSection(section: string, out: number[]): void {
    // Printable ASCII (plus \t \n \r) needs only lowercasing, done while scanning.
    if (!NOT_SIMPLE_ASCII.test(section)) this.scan(section, out, true);
    else this.scan(normalizeBertText(section), out, false);
  }

  /**
   * BertPreTokenizer's split (runs of non-space non-punctuation, or one punctuation code point)
   * in one pass over the text, hashing each word as it goes and looking it up in place.
   */
  private scan(text: string, out: number[], lower: boolean): void {
    const n = text.length;
    let i = 0;
    while (i < n) {
      let c = text.charCodeAt(i);
      let width = 1;
      let cls: number;
      if (c < 128) cls = ASCII_CLASS[c]!;
      else {
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
          const lo = text.charCodeAt(i + 1);
          if (lo >= 0xdc00 && lo <= 0xdfff) width = 2;
        }
        cls = classOf(width === 2 ? text.codePointAt(i)! : c);
      }
      if (cls === 0) {
        i += width;
        continue;
      }
      const start = i;
      let h = 0x811c9dc5;
      if (cls === 2) {
        for (let k = 0; k < width; k++) h = Math.imul(h ^ text.charCodeAt(i + k), 0x01000193);
        i += width;
      } else {
        // Extend the word while the next code point is a word character.
        for (;;) {
          for (let k = 0; k < width; k++) {
            let d = text.charCodeAt(i + k);
            if (lower && d >= 65 && d <= 90) d += 32;
            h = Math.imul(h ^ d, 0x01000193);
          }
          i += width;
          if (i >= n) break;
          c = text.charCodeAt(i);
          width = 1;
          if (c < 128) {
            if (ASCII_CLASS[c] !== 1) break;
          } else {
            if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
              const lo = text.charCodeAt(i + 1);
              if (lo >= 0xdc00 && lo <= 0xdfff) width = 2;
            }
            if (classOf(width === 2 ? text.codePointAt(i)! : c) !== 1) break;
          }
        }
      }
      const id = this.units.find(text, start, i, h, lower);
      out.push(id === -1 ? this.unkId : id);
    }
  }

  /** Token ids of one text: [CLS] words… [SEP], truncated to `model_max_length`. */
  encode(text: string): number[] {
    const ids: number[] = [this.clsId];
    if (this.addedRegex !== null && text.includes('[') && this.addedRegex.test(text)) {
      for (const section of text.split(this.addedRegex)) {
        if (!section) continue;
        const special = this.added.get(section);
        if (special !== undefined) ids.push(special);
        else this.encodeSection(section, ids);
      }
    } else {
      this.encodeSection(text, ids);
    }
    ids.push(this.sepId);
    return ids.length > this.maxLength ? ids.slice(0, this.maxLength) : ids;
  }
}
