// The taint rule: a param is tainted when its value occurs in text its proposer was shown —
// the chunks (and their titles and headings) of the bundles the proposal cites as basis and
// of the other bundles its actor retrieved in the same session (facts.ts). For trusted
// params this is the prompt-injection signal: a recipient account copied from a retrieved
// document is tainted. The rule errs towards tainting: every fold below can only add
// matches. See README.md.
import { decodeHTML } from 'entities';
import { CoreErrors, WritError } from '../core/index.js';
import type { ParamValue } from './records.js';

// Cyrillic and Greek letters drawn like Latin ones (Unicode's confusables, the common ones),
// in lower case: the text is case-folded first, so a letter and its capital map alike, and
// an account re-typed with a Cyrillic `Е`, or copied in another case, still meets the text.
// Where a letter's two cases look like different Latin letters, the capital's wins (Greek
// `Ν`/`ν` → n, `Υ`/`υ` → y): identifiers are mostly written in capitals.
const LOOK_ALIKES: Readonly<Record<string, string>> = {
  а: 'a', в: 'b', е: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', у: 'y', х: 'x',
  і: 'i', ј: 'j', ѕ: 's', ү: 'y', ԁ: 'd', һ: 'h', ԛ: 'q', ԝ: 'w', ӏ: 'l',
  α: 'a', β: 'b', ε: 'e', ζ: 'z', η: 'h', ι: 'i', κ: 'k', μ: 'm', ν: 'n', ο: 'o', ρ: 'p', τ: 't', υ: 'y', χ: 'x',
};
const LOOK_ALIKE = new RegExp(`[${Object.keys(LOOK_ALIKES).join('')}]`, 'gu');
const DECIMAL_DIGIT = /\p{Nd}/u;
const NOT_ASCII = /[^\x00-\x7f]/;
/** Each non-ASCII decimal digit met so far, as its ASCII digit. */
const digitValues = new Map<string, string>();

/**
 * A decimal digit of any script as its ASCII digit (`٤` → `4`). Unicode lays every
 * script's digits out as runs of ten from zero to nine, so a digit's value is its distance
 * from the start of its run, mod 10; each digit is worked out once.
 */
function asciiDigit(digit: string): string {
  const code = digit.codePointAt(0) as number;
  if (code < 0x80) return digit;
  let value = digitValues.get(digit);
  if (value === undefined) {
    let start = code;
    while (code - start < 60 && DECIMAL_DIGIT.test(String.fromCodePoint(start - 1))) start--;
    value = String((code - start) % 10);
    digitValues.set(digit, value);
  }
  return value;
}

/** NFKC, full case folding (`ß` → `ss`), Latin look-alikes, and any script's digits as ASCII. */
function foldForTaint(text: string): string {
  // ASCII text has nothing to normalize, map or fold but its case.
  if (!NOT_ASCII.test(text)) return text.toLowerCase();
  return text
    .normalize('NFKC')
    .toUpperCase()
    .toLowerCase()
    .replace(LOOK_ALIKE, (c) => LOOK_ALIKES[c] as string)
    .replace(/\p{Nd}/gu, asciiDigit);
}

/** Folded (see `foldForTaint`), runs of whitespace collapsed to one space, trimmed. */
export function normalizeForTaint(text: string): string {
  return collapseSpace(foldForTaint(text));
}

/** Runs of whitespace as one space, trimmed (only runs and other spaces are rewritten: most text has single spaces). */
function collapseSpace(text: string): string {
  return text.replace(/\s\s+|[^\S ]/gu, ' ').trim();
}

/** Letters and digits only, after folding: defeats spacing, punctuation and look-alike tricks. */
export function compactForTaint(text: string): string {
  return compactFolded(foldForTaint(text));
}

/**
 * Text as a reader of its rendering sees it: HTML comments and tags dropped, character
 * references decoded (`DE44&nbsp;5001`, `DE44<b>5001</b>`, `&#53;`). Documents ingested as
 * Markdown or text keep their markup in the chunk text, and an agent reads through it.
 */
function renderedText(text: string): string {
  return decodeHTML(text.replace(/<!--[\s\S]*?(?:-->|$)/gu, '').replace(/<\/?[A-Za-z][^<>]*>/gu, ''));
}

/** The shown text prepared once for many param checks. */
export interface TaintCorpus {
  readonly normalized: string;
  readonly compact: string;
  /**
   * Whole tokens, for short trusted values: letter/digit runs and numbers (`12.50`,
   * `1,250`) as written, each number also in its other forms (see `numberForms`), and each
   * whitespace-separated word in compact form (`B-12` → `b12`). Made on first use; checks
   * go through `hasToken`, which needs no set of the whole text.
   */
  readonly tokens: ReadonlySet<string>;
  /** Whether `token` is one of `tokens`. */
  hasToken(token: string): boolean;
}

/** One shown text's forms, as `buildTaintCorpus` cuts them. */
interface PreparedText {
  /** Folded, spaces collapsed: this text's part of `normalized`. */
  readonly normalized: string;
  /** Folded, letters and digits only: this text's part of `compact`. */
  readonly compact: string;
  /** The compact form of its rendering, for a text with markup; null without. */
  readonly renderedCompact: string | null;
  /** Its whole tokens, made on first use (tokens never span two texts: see `wholeTokens`). */
  tokens?: Set<string>;
}

function prepareText(text: string): PreparedText {
  const folded = foldForTaint(text);
  return {
    normalized: flat(collapseSpace(folded)),
    compact: flat(compactFolded(folded)),
    renderedCompact: hasMarkup(text) ? flat(compactForTaint(renderedText(text))) : null,
  };
}

/**
 * `text`, made one piece in place. V8 keeps the result of a global `replace` as a tree of
 * pieces, and joining such strings walks the tree again every time: joining a run's compact
 * forms took ~60 µs per 10 KB, 15 ms per decision of a long session, until the first
 * character read flattened them. Reading one flattens a string where it is held, so a kept
 * form is walked once.
 */
function flat(text: string): string {
  text.charCodeAt(0);
  return text;
}

const tokensOf = (p: PreparedText): Set<string> => (p.tokens ??= wholeTokens(p.normalized));

/**
 * Shown texts' prepared forms, kept between decisions. Taint reads everything its actor was
 * shown in the session, so each decision of a long session would fold the same texts again
 * (at the 2M-character session ceiling ~30 ms of ASCII, ~150–200 ms of other scripts, inside
 * the decision's write transaction); with this, only texts new since the last decision are.
 *
 * Entries are keyed by the text itself, so nothing depends on ids staying bound to one
 * text, and kept per scope (Writ's broker uses one per actor): a text is served prepared
 * only to the scope that was shown it, so how fast a decision is tells nobody what another
 * principal was shown. Bounded by characters, approximately (`costOf`): when over, the
 * least recently used scopes go first, then the oldest texts of the one in use. A decision
 * reads its texts in one pass, so a scope holding more than the bound gains little.
 */
export interface TaintTextCache {
  /** Characters held now, as the bound counts them (see `costOf`). */
  readonly chars: number;
  /** Texts held now, every scope's. */
  readonly entries: number;
  /** Scopes holding at least one text now. */
  readonly scopes: number;
  /** Texts served prepared, and texts prepared (each since the cache was made). */
  readonly hits: number;
  readonly misses: number;
}

interface CacheEntry {
  readonly prepared: PreparedText;
  readonly cost: number;
}

class TextCache implements TaintTextCache {
  /** Scopes, least recently used first, each with its texts in the same order. */
  private readonly byScope = new Map<string, Map<string, CacheEntry>>();
  chars = 0;
  hits = 0;
  misses = 0;
  constructor(private readonly maxChars: number) {}
  get scopes(): number {
    return this.byScope.size;
  }
  get entries(): number {
    let n = 0;
    for (const texts of this.byScope.values()) n += texts.size;
    return n;
  }
  prepared(text: string, scope: string): PreparedText {
    let texts = this.byScope.get(scope);
    const hit = texts?.get(text);
    if (texts !== undefined && hit !== undefined) {
      this.touch(scope, texts);
      texts.delete(text);
      texts.set(text, hit);
      this.hits++;
      return hit.prepared;
    }
    this.misses++;
    const prepared = prepareText(text);
    const cost = costOf(text, prepared);
    // A scope is held only while it holds a text: the cache turned off keeps nothing at all.
    if (this.maxChars > 0 && cost <= this.maxChars) {
      texts ??= new Map<string, CacheEntry>();
      this.touch(scope, texts);
      texts.set(text, { prepared, cost });
      this.chars += cost;
      this.trim();
    } else if (texts !== undefined) {
      this.touch(scope, texts);
    }
    return prepared;
  }
  /** Makes `scope` the most recently used (last). */
  private touch(scope: string, texts: Map<string, CacheEntry>): void {
    this.byScope.delete(scope);
    this.byScope.set(scope, texts);
  }
  private trim(): void {
    for (const [scope, texts] of this.byScope) {
      for (const [text, entry] of texts) {
        if (this.chars <= this.maxChars) return;
        texts.delete(text);
        this.chars -= entry.cost;
      }
      this.byScope.delete(scope);
    }
  }
}

/**
 * What an entry is counted as, in characters: the text and its forms, and its tokens
 * whether made yet or not (a text's token set takes about four times its normalized
 * length), so the bound holds without recounting. An estimate: a character of the
 * commonest scripts takes one byte of memory, of others two.
 */
function costOf(text: string, p: PreparedText): number {
  return text.length + p.normalized.length * 5 + p.compact.length + (p.renderedCompact?.length ?? 0);
}

/**
 * A cache of prepared texts holding about `maxChars` characters at most (see
 * `TaintTextCache`); 0 keeps nothing.
 *
 * @example
 * const cache = createTaintTextCache(32_000_000);
 * buildTaintCorpus([['chunk one', 'chunk two'], 'a title'], { cache, scope: 'acme/desk-agent' });
 */
export function createTaintTextCache(maxChars: number): TaintTextCache {
  if (!Number.isSafeInteger(maxChars) || maxChars < 0) {
    throw new WritError(CoreErrors.INVALID_INPUT, `invalid taint text cache: \`maxChars\` must be a whole number ≥ 0, got \`${String(maxChars)}\``, {
      details: { issues: [{ path: 'maxChars', code: 'invalid_type', message: 'must be a whole number ≥ 0' }] },
    });
  }
  return new TextCache(maxChars);
}

/**
 * Prepares the shown texts for taint checks. A string is one text; an array is a run of
 * texts that follow one another (one document's chunks, in order), whose compact forms are
 * also joined without a break, so a value cut in two by a chunk boundary is still found.
 * With `cache` (made by `createTaintTextCache`), texts this `scope` was shown before are
 * not folded again.
 */
export function buildTaintCorpus(sources: readonly (string | readonly string[])[], options: { cache?: TaintTextCache; scope?: string } = {}): TaintCorpus {
  const { cache, scope = '' } = options;
  if (cache !== undefined && !(cache instanceof TextCache)) {
    throw new WritError(CoreErrors.INVALID_INPUT, 'invalid taint corpus options: `cache` must be made by `createTaintTextCache`', {
      details: { issues: [{ path: 'cache', code: 'invalid_type', message: 'not a cache made by createTaintTextCache' }] },
    });
  }
  const prepare = cache === undefined ? prepareText : (text: string) => cache.prepared(text, scope);
  const runs = sources.map((source) => (typeof source === 'string' ? [source] : source));
  const preparedTexts: PreparedText[] = [];
  const compacts: string[] = [];
  for (const run of runs) {
    const prepared = run.map(prepare);
    preparedTexts.push(...prepared);
    compacts.push(prepared.map((p) => p.compact).join(''));
    if (prepared.some((p) => p.renderedCompact !== null)) compacts.push(prepared.map((p) => p.renderedCompact ?? p.compact).join(''));
  }
  const normalized = preparedTexts.map((p) => p.normalized).join('\n');
  const compact = compacts.join('\n');
  const hasToken = (token: string): boolean => preparedTexts.some((p) => tokensOf(p).has(token));
  let tokens: Set<string> | undefined;
  return {
    normalized,
    compact,
    hasToken,
    get tokens() {
      tokens ??= new Set(preparedTexts.flatMap((p) => [...tokensOf(p)]));
      return tokens;
    },
  };
}

const NOT_LETTER_OR_DIGIT = /[^\p{L}\p{N}]+/gu;
const compactFolded = (folded: string): string => folded.replace(NOT_LETTER_OR_DIGIT, '');
const hasMarkup = (text: string): boolean => text.includes('<') || text.includes('&');

/**
 * The forms a number written in a text also stands for: without group separators
 * (`1,250` → `1250`), and as a canonical decimal, read with `.` or with `,` as the decimal
 * point (`50.00` → `50`, `12,50` → `12.5`, `007` → `7`). Params hold canonical decimals
 * (`12.5`), so a value copied from `12.50` must meet that form. Reading a separator both
 * ways can only add matches: the rule errs towards tainting.
 */
function numberForms(token: string): string[] {
  const forms = [token.replace(/,/g, '')];
  for (const candidate of [token.replace(/,/g, ''), token.replace(/\./g, '').replace(/,/g, '.'), token.replace(/,/g, '.')]) {
    const m = /^(\d+)(?:\.(\d+))?$/.exec(candidate);
    if (m === null) continue;
    const integer = (m[1] as string).replace(/^0+(?=\d)/, '');
    const fraction = (m[2] ?? '').replace(/0+$/, '');
    forms.push(fraction === '' ? integer : `${integer}.${fraction}`);
  }
  return forms;
}

/** The whole tokens of normalized text (see `TaintCorpus.tokens`). */
function wholeTokens(normalized: string): Set<string> {
  const tokens = new Set<string>();
  for (const m of normalized.matchAll(/[\p{L}\p{N}]+(?:[.,][\p{N}]+)*/gu)) {
    tokens.add(m[0]);
    if (/^[\p{N}.,]+$/u.test(m[0])) for (const form of numberForms(m[0])) tokens.add(form);
  }
  // A short value with punctuation (`B-12`) is a whole word of the text, not a token.
  for (const word of normalized.split(/\s/u)) {
    const c = compactFolded(word);
    if (c !== '') tokens.add(c);
  }
  return tokens;
}

/** Identifier parts shorter than this are not looked for inside a longer trusted value. */
const MIN_PART = 8;

/**
 * The parts of a value that look like an identifier with words around it (`IBAN DE44 5001
 * …`, `IBAN:DE44…`, `DE44… (J. Smith)`, `Pay to mallory@example.net`), in compact form:
 * each run of words that all carry a digit (a spaced account or phone number), and each word
 * with inner punctuation (an email address, a dotted or dashed code). Words are split at
 * whitespace and at the marks that set an identifier apart (`:;,()[]{}<>"'|`), never at the
 * ones inside one (`-./@_+`). Only whole runs count, not pieces of one: two accounts at one
 * bank share a run of digits, and that alone is not a copy.
 */
function identifierParts(text: string, minLength: number): string[] {
  const words = text.normalize('NFKC').split(/[\s:;,()[\]{}<>"'|«»]+/u).filter((w) => w !== '');
  const parts: string[] = [];
  let run: string[] = [];
  const flush = () => {
    if (run.length > 0) parts.push(run.join(' '));
    run = [];
  };
  for (const word of words) {
    if (/\p{N}/u.test(word)) run.push(word);
    else flush();
    if (/[\p{L}\p{N}][-./@_+][\p{L}\p{N}]/u.test(word)) parts.push(word);
  }
  flush();
  return parts.map(compactForTaint).filter((p) => p.length >= minLength);
}

/**
 * True when `value` occurs in the corpus:
 * - booleans and null never do (they carry no content);
 * - numbers and decimals are compared by their string form (`991`, `12.5`);
 * - a value whose compact form (letters and digits only) has at least `minLength`
 *   characters is tainted when its normalized form occurs in the normalized text, or its
 *   compact form occurs in the compact text; a `trusted` one also when one of its
 *   identifier parts does (`IBAN DE44…` when the text holds `DE44…`: see `identifierParts`);
 * - a shorter value is checked only when `trusted`, and then against the whole tokens:
 *   its normalized form (`12.5`, also met by `12.50`) or its compact form (`b12`, met by
 *   the word `B-12`).
 */
export function isTainted(value: ParamValue, corpus: TaintCorpus, options: { trusted: boolean; minLength: number }): boolean {
  if (value === null || typeof value === 'boolean') return false;
  const text = String(value);
  const normalized = normalizeForTaint(text);
  const compact = compactForTaint(text);
  if (normalized === '') return false;
  if (compact.length >= options.minLength) {
    if (corpus.normalized.includes(normalized) || corpus.compact.includes(compact)) return true;
    return options.trusted && identifierParts(text, Math.max(MIN_PART, options.minLength)).some((part) => part !== compact && corpus.compact.includes(part));
  }
  if (!options.trusted) return false;
  return corpus.hasToken(normalized) || (compact !== '' && corpus.hasToken(compact));
}
