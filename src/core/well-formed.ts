// Input from outside must be well-formed Unicode. JSON can carry a lone UTF-16 surrogate
// (`"\ud800"`), which is no character: SQLite would store it as U+FFFD, so the text stored
// would not be the text sent, and canonical JSON refuses it deeper down under a code meant
// for the ledger's own callers. The boundaries (HTTP bodies, MCP tool arguments) refuse it
// with the path to it.
import { CoreErrors, WritError } from './errors.js';

/**
 * Throws INVALID_INPUT naming the first string (value or key) in `body` that is not
 * well-formed Unicode; `what` names the input in the message (`request body`, `tool arguments`).
 */
export function rejectIllFormedText(body: unknown, what = 'request body'): void {
  if (body === null || typeof body !== 'object') {
    if (typeof body === 'string') check(body, '(root)', what);
    return;
  }
  // Iterative: a body nests as deep as the JSON parser allowed, deeper than the stack.
  const stack: Array<{ value: unknown; path: string }> = [{ value: body, path: '' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop() as { value: unknown; path: string };
    if (typeof value === 'string') {
      check(value, path || '(root)', what);
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: path === '' ? String(i) : `${path}.${i}` });
    } else if (value !== null && typeof value === 'object') {
      const keys = Object.keys(value);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        const at = path === '' ? key : `${path}.${key}`;
        check(key, at, what);
        stack.push({ value: (value as Record<string, unknown>)[key], path: at });
      }
    }
  }
}

/**
 * Where `text` holds its first lone surrogate (a UTF-16 half of a pair with no other half,
 * as a JSON `"\ud800"` escape makes), or -1 when it is well-formed Unicode.
 */
export function loneSurrogateAt(text: string): number {
  if (text.isWellFormed()) return -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
    else if (c >= 0xd800 && c <= 0xdfff) return i;
  }
  return -1;
}

/** What is wrong with `text`, holding a lone surrogate at `at`, for an error message. */
export function loneSurrogateProblem(text: string, at: number): string {
  return `holds a lone surrogate (\\u${text.charCodeAt(at).toString(16).padStart(4, '0')}) at character ${at}, which is no Unicode character`;
}

function check(text: string, path: string, what: string): void {
  const at = loneSurrogateAt(text);
  if (at < 0) return;
  const unit = text.charCodeAt(at).toString(16).padStart(4, '0');
  // A body nested thousands deep has a path as long: the message shows its end.
  const shown = path.length > 200 ? `…${path.slice(-200)}` : path;
  throw new WritError(CoreErrors.INVALID_INPUT, `invalid ${what}: \`${shown}\`: ${loneSurrogateProblem(text, at)}: send well-formed text`, {
    details: { issues: [{ path, code: 'invalid_string', message: `lone surrogate \\u${unit} at character ${at}` }] },
  });
}
