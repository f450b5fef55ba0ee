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
  /** Whole tokens (letter/digit runs, and decimals like `12.50`), for short trusted values. */
  readonly tokens: ReadonlySet<string>;
}

/** Prepares the basis chunk texts for taint checks. */
export function buildTaintCorpus(texts: readonly string[]): TaintCorpus {
  const normalized = texts.map(normalizeForTaint).join('\n');
  const compact = texts.map(compactForTaint).join('\n');
  const tokens = new Set<string>();
  for (const m of normalized.matchAll(/[\p{L}\p{N}]+(?:[.,][\p{N}]+)*/gu)) {
    tokens.add(m[0]);
    tokens.add(m[0].replace(/,/g, ''));
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
 * - a shorter value is checked only when `trusted`, and then as a whole token.
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
