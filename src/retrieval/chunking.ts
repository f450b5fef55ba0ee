// Structure-aware chunking: splits a document into blocks (headings, paragraphs, code
// fences), then packs consecutive blocks into chunks under a size limit with an overlap.
// Offsets always point into the original text, so a chunk is a verbatim slice.

/** How chunks are cut; defaults chosen by measurement (src/retrieval/README.md). */
export interface ChunkingOptions {
  /** Largest chunk in characters (a single longer sentence is cut at word boundaries). */
  readonly maxChars: number;
  /** Characters of the previous chunk's tail repeated at the start of the next one. */
  readonly overlapChars: number;
  /** A heading closes the running chunk only when it holds at least this many characters. */
  readonly minChars: number;
}

export const DEFAULT_CHUNKING: ChunkingOptions = Object.freeze({ maxChars: 2000, overlapChars: 200, minChars: 300 });

/** One piece of a document: a verbatim slice `[charStart, charEnd)` and its heading path. */
export interface TextChunk {
  readonly ordinal: number;
  readonly text: string;
  readonly charStart: number;
  readonly charEnd: number;
  /** Headings above the chunk, outermost first, joined with ` > `. */
  readonly heading: string;
}

interface Block {
  start: number;
  end: number;
  heading: string;
  isHeading: boolean;
}

const HEADING = /^(#{1,6})\s+(.+?)\s*#*\s*$/;
const FENCE = /^\s*(```|~~~)/;

function splitBlocks(text: string, markdown: boolean): Block[] {
  const blocks: Block[] = [];
  const path: string[] = [];
  let start = -1;
  let end = -1;
  let inFence = false;
  const flush = (): void => {
    if (start >= 0) blocks.push({ start, end, heading: path.join(' > '), isHeading: false });
    start = -1;
  };
  let pos = 0;
  while (pos <= text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const line = text.slice(pos, nl);
    const blank = line.trim() === '';
    if (markdown && FENCE.test(line)) inFence = !inFence;
    const heading = markdown && !inFence ? HEADING.exec(line) : null;
    if (heading) {
      flush();
      const level = (heading[1] as string).length;
      path.length = Math.min(path.length, level - 1);
      while (path.length < level - 1) path.push('');
      path.push((heading[2] as string).trim());
      blocks.push({ start: pos, end: nl, heading: path.filter(Boolean).join(' > '), isHeading: true });
    } else if (blank && !inFence) {
      flush();
    } else {
      if (start < 0) start = pos;
      end = nl;
    }
    pos = nl + 1;
  }
  flush();
  for (const b of blocks) b.heading = b.heading.split(' > ').filter(Boolean).join(' > ');
  return blocks;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const isHighSurrogate = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLowSurrogate = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;
// How far back a cut looks for the start of a character: longer combining sequences (Zalgo
// text) are cut inside, between two code points.
const GRAPHEME_LOOKBACK = 64;

/**
 * Where to cut a run with no sentence end or space in its first `max` characters: at most
 * `max` after `start`, at the start of a user-perceived character (a letter with its
 * combining marks, an emoji sequence), and never inside a surrogate pair. Cutting a pair
 * leaves a lone half on each side, which SQLite stores as U+FFFD: the stored chunk would no
 * longer be the slice of the document its offsets name, nor match its hash.
 */
function characterCut(text: string, start: number, max: number): number {
  const at = start + max;
  const before = text.charCodeAt(at - 1);
  const after = text.charCodeAt(at);
  // Two ASCII characters never join into one: the common case needs no segmenter.
  if (before < 0x80 && after < 0x80) return max;
  let from = Math.max(start, at - GRAPHEME_LOOKBACK);
  if (from > start && isLowSurrogate(text.charCodeAt(from))) from--;
  let best = -1;
  for (const { index } of graphemes.segment(text.slice(from, at + 1))) {
    const cut = from + index - start;
    if (cut > max) break;
    if (cut > 0) best = cut;
  }
  if (best > max / 3 && best <= max) return best;
  // A combining sequence longer than the look-back: cut between code points.
  return isHighSurrogate(before) && isLowSurrogate(after) ? max - 1 : max;
}

/** Splits one oversized range at sentence ends, then at spaces, into pieces ≤ max. */
function splitRange(text: string, start: number, end: number, max: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let s = start;
  while (end - s > max) {
    const window = text.slice(s, s + max);
    let cut = -1;
    const sentence = /[.!?。](\s+)/g;
    let m: RegExpExecArray | null;
    while ((m = sentence.exec(window)) !== null) if (m.index + 1 > max / 3) cut = m.index + 1;
    if (cut < 0) {
      const space = window.lastIndexOf(' ');
      cut = space > max / 3 ? space : characterCut(text, s, max);
    }
    out.push([s, s + cut]);
    s += cut;
    while (s < end && /\s/.test(text[s] as string)) s++;
  }
  if (end > s) out.push([s, end]);
  return out;
}

/**
 * Cuts `text` into chunks. Markdown headings start a new chunk (once the running one has
 * `minChars`) and give each chunk its heading path; paragraphs are never split unless
 * longer than `maxChars`. Every non-blank character lies in some chunk (headings with no
 * body after them form a chunk of their own).
 *
 * @example
 * chunkText('# A\n\npara one\n\npara two', { markdown: true })
 */
export function chunkText(text: string, options: Partial<ChunkingOptions> & { markdown?: boolean } = {}): TextChunk[] {
  const opts = { ...DEFAULT_CHUNKING, ...options };
  const max = Math.max(50, opts.maxChars);
  const overlap = Math.max(0, Math.min(opts.overlapChars, Math.floor(max / 2)));
  const pieces: Block[] = [];
  for (const b of splitBlocks(text, options.markdown ?? false)) {
    if (b.end - b.start <= max) pieces.push(b);
    else for (const [s, e] of splitRange(text, b.start, b.end, max)) pieces.push({ start: s, end: e, heading: b.heading, isHeading: false });
  }
  const chunks: TextChunk[] = [];
  let cur: Block[] = [];
  // Headings with no body after them (a title-only document, a trailing heading, headings
  // longer than a chunk) still become a chunk of their own: their words must stay findable.
  const emit = (): void => {
    if (cur.length === 0) return;
    const first = cur[0] as Block;
    const last = cur[cur.length - 1] as Block;
    const body = cur.find((b) => !b.isHeading) ?? first;
    chunks.push({ ordinal: chunks.length, text: text.slice(first.start, last.end), charStart: first.start, charEnd: last.end, heading: body.heading });
  };
  for (const piece of pieces) {
    const curLen = cur.length === 0 ? 0 : (cur[cur.length - 1] as Block).end - (cur[0] as Block).start;
    const startsSection = piece.isHeading && curLen >= opts.minChars;
    const tooBig = cur.length > 0 && piece.end - (cur[0] as Block).start > max;
    if (startsSection || tooBig) {
      emit();
      // Overlap: carry the trailing non-heading blocks that fit, unless a section starts.
      const carry: Block[] = [];
      if (!startsSection && overlap > 0) {
        for (let i = cur.length - 1; i >= 0; i--) {
          const b = cur[i] as Block;
          if (b.isHeading || piece.end - b.start > max || (cur[cur.length - 1] as Block).end - b.start > overlap) break;
          carry.unshift(b);
        }
        if (carry.length === cur.length) carry.shift();
      }
      cur = carry;
    }
    cur.push(piece);
  }
  emit();
  return chunks;
}
