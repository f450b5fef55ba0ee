// The taint rule: a param is tainted when its value occurs in the text of the chunks the
// proposal cites as basis. For trusted params this is the prompt-injection signal: a
// recipient account copied from a retrieved document is tainted. See README.md.
import type { ParamValue } from './records.js';

/** NFKC, lower case, runs of whitespace collapsed to one space, trimmed. */
export function normalizeForTaint(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim();
}

/** Letters and digits only (after NFKC and lower case): defeats spacing and punctuation tricks. */
export function compactForTaint(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');
}

/** The basis text prepared once for many param checks. */
export interface TaintCorpus {
  readonly normalized: string;
  readonly compact: string;
  /**
   * Whole tokens, for short trusted values: letter/digit runs and numbers (`12.50`,
   * `1,250`) as written, each number also in its other forms (see `numberForms`), and each
   * whitespace-separated word in compact form (`B-12` → `b12`).
   */
  readonly tokens: ReadonlySet<string>;
}

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

/** Prepares the basis chunk texts for taint checks. */
export function buildTaintCorpus(texts: readonly string[]): TaintCorpus {
  const normalized = texts.map(normalizeForTaint).join('\n');
  const compact = texts.map(compactForTaint).join('\n');
  const tokens = new Set<string>();
  for (const m of normalized.matchAll(/[\p{L}\p{N}]+(?:[.,][\p{N}]+)*/gu)) {
    tokens.add(m[0]);
    if (/^[\p{N}.,]+$/u.test(m[0])) for (const form of numberForms(m[0])) tokens.add(form);
  }
  // A short value with punctuation (`B-12`) is a whole word of the text, not a token.
  for (const word of normalized.split(/\s/u)) {
    const c = compactForTaint(word);
    if (c !== '') tokens.add(c);
  }
  return { normalized, compact, tokens };
}

/**
 * True when `value` occurs in the corpus:
 * - booleans and null never do (they carry no content);
 * - numbers and decimals are compared by their string form (`991`, `12.5`);
 * - a value whose compact form (letters and digits only) has at least `minLength`
 *   characters is tainted when its normalized form occurs in the normalized text, or its
 *   compact form occurs in the compact text;
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
    return corpus.normalized.includes(normalized) || corpus.compact.includes(compact);
  }
  if (!options.trusted) return false;
  return corpus.tokens.has(normalized) || (compact !== '' && corpus.tokens.has(compact));
}
