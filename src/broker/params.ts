// Checks a proposal's params against its action's ParamSpecs and puts them in canonical
// form. Reports every problem at once: unknown, missing, wrong type, range, length,
// pattern and enum.
import type { InputIssue } from '../core/index.js';
import type { ActionSpec, ParamSpec } from './catalog.js';
import type { ParamValue } from './records.js';

const DECIMAL = /^-?(0|[1-9]\d*)(\.\d+)?$/;

/** Cedar's `decimal` holds at most this many fractional digits… */
export const DECIMAL_MAX_FRACTION_DIGITS = 4;
/** …and at most this magnitude (a signed 64-bit integer of ten-thousandths). */
export const DECIMAL_MAX_TEXT = '922337203685477.5807';
const DECIMAL_MAX_SCALED = 9223372036854775807n;

/**
 * Why a plain decimal text (`-?digits[.digits]`) is not a value Cedar's `decimal` can hold
 * (at most 4 fractional digits, |x| ≤ 922337203685477.5807), or null when it is one.
 * Policy reads every decimal as a Cedar decimal: a value outside that set could never
 * reach policy, so params refuse it rather than letting the engine drop it.
 */
export function cedarDecimalProblem(text: string): string | null {
  const [whole = '0', frac = ''] = text.replace(/^-/, '').split('.');
  if (frac.length > DECIMAL_MAX_FRACTION_DIGITS) return `has more than ${DECIMAL_MAX_FRACTION_DIGITS} decimal places, the most a policy decimal holds`;
  if (whole.length < 15) return null;
  if (whole.length > 40 || BigInt(whole + frac.padEnd(DECIMAL_MAX_FRACTION_DIGITS, '0')) > DECIMAL_MAX_SCALED) return `is beyond ±${DECIMAL_MAX_TEXT}, the range of a policy decimal`;
  return null;
}

/**
 * Canonical form of a decimal string: no leading zeros, no trailing fractional zeros,
 * no negative zero (`"012.50"` → `"12.5"`). Input must match a plain decimal.
 */
export function canonicalDecimal(text: string): string {
  const negative = text.startsWith('-');
  let [whole = '0', frac = ''] = (negative ? text.slice(1) : text).split('.');
  whole = whole.replace(/^0+(?=\d)/, '');
  frac = frac.replace(/0+$/, '');
  const body = frac === '' ? whole : `${whole}.${frac}`;
  return negative && body !== '0' ? `-${body}` : body;
}

/** Records an issue with param `name`; returns undefined, for `return issue(…)` when the value is unusable. */
function issue(issues: InputIssue[], name: string, code: string, message: string): undefined {
  issues.push({ path: `params.${name}`, code, message });
  return undefined;
}

/** Compiled once per spec: `defineCatalog` freezes specs, so a pattern never changes under its spec. */
const patterns = new WeakMap<ParamSpec, RegExp>();
function patternOf(spec: ParamSpec & { pattern: string }): RegExp {
  let re = patterns.get(spec);
  if (re === undefined) {
    re = new RegExp(spec.pattern, 'u');
    patterns.set(spec, re);
  }
  return re;
}

function checkOne(name: string, spec: ParamSpec, value: unknown, issues: InputIssue[]): ParamValue | undefined {
  switch (spec.type) {
    case 'boolean':
      if (typeof value !== 'boolean') return issue(issues, name, 'invalid_type', 'expected a boolean');
      return value;
    case 'integer': {
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) return issue(issues, name, 'invalid_type', 'expected an integer');
      if (spec.min !== undefined && value < spec.min) issue(issues, name, 'too_small', `must be at least ${spec.min}`);
      if (spec.max !== undefined && value > spec.max) issue(issues, name, 'too_big', `must be at most ${spec.max}`);
      return value;
    }
    case 'decimal': {
      let text: string;
      if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
      else if (typeof value === 'string') text = value.trim();
      else return issue(issues, name, 'invalid_type', 'expected a decimal such as `12.50`');
      if (!DECIMAL.test(text) || text.length > 40) return issue(issues, name, 'invalid_format', 'expected a decimal such as `12.50`');
      const canonical = canonicalDecimal(text);
      const problem = cedarDecimalProblem(canonical);
      if (problem !== null) return issue(issues, name, 'invalid_format', `\`${canonical}\` ${problem}`);
      const n = Number(canonical);
      if (spec.min !== undefined && n < spec.min) issue(issues, name, 'too_small', `must be at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) issue(issues, name, 'too_big', `must be at most ${spec.max}`);
      return canonical;
    }
    case 'string': {
      if (typeof value !== 'string') return issue(issues, name, 'invalid_type', 'expected a string');
      const text = value.normalize('NFC');
      if (text.length > spec.maxLength) issue(issues, name, 'too_big', `must be at most ${spec.maxLength} characters`);
      if (spec.pattern !== undefined && !patternOf(spec as ParamSpec & { pattern: string }).test(text)) issue(issues, name, 'invalid_format', `must match \`${spec.pattern}\``);
      if (spec.enum !== undefined && !spec.enum.includes(text)) issue(issues, name, 'invalid_value', `must be one of ${spec.enum.map((e) => `\`${e}\``).join(', ')}`);
      return text;
    }
  }
}

/** Each catalog spec record's entries, by name in RFC 8785 order (UTF-16 code units). */
const entriesInOrder = new WeakMap<Record<string, ParamSpec>, ReadonlyArray<readonly [string, ParamSpec]>>();

/**
 * The entries of a catalog spec record (an action's params, a resource type's attributes),
 * by name in RFC 8785 order; made once per record, since every proposal and decision walks them.
 */
export function specEntries(specs: Record<string, ParamSpec>): ReadonlyArray<readonly [string, ParamSpec]> {
  let sorted = entriesInOrder.get(specs);
  if (sorted === undefined) {
    sorted = Object.entries(specs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    entriesInOrder.set(specs, sorted);
  }
  return sorted;
}

/**
 * Validates and normalizes `params` for `action`. Returns the canonical params (keys in
 * RFC 8785 order, so a proposal's seal writes them without a sorted copy; absent optional
 * params left out) and every issue found.
 */
export function checkParams(action: ActionSpec, params: Record<string, unknown>): { params: Record<string, ParamValue>; issues: InputIssue[] } {
  const issues: InputIssue[] = [];
  const out: Record<string, ParamValue> = {};
  for (const name of Object.keys(params)) {
    if (action.params[name] === undefined) issues.push({ path: `params.${name}`, code: 'unrecognized_key', message: `unknown param \`${name}\`` });
  }
  for (const [name, spec] of specEntries(action.params)) {
    const value = params[name];
    if (value === undefined || value === null) {
      if (spec.required) issues.push({ path: `params.${name}`, code: 'required', message: 'is required' });
      continue;
    }
    const checked = checkOne(name, spec, value, issues);
    if (checked !== undefined) out[name] = checked;
  }
  return { params: out, issues };
}
