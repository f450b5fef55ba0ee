// Limits on policy text, checked before Cedar sees it. Cedar's parser recurses once per
// nesting level on a fixed 1 MiB stack inside its WebAssembly memory; text nested deeper
// than it can take overflows that stack, traps ("memory access out of bounds"), and leaves
// the instance corrupted (./cedar.ts). Measured with cedar-wasm 4.13 on Node 20 (fresh
// process each; src/broker/policy/README.md, "Limits"): the parser first traps at 135
// nested `(`, ~125 nested `[`, ~115 nested `{a:`, ~750 nested `if`, ~3,500 chained
// `&&`/`+`/`.` and ~10,000 `when` clauses; 64 nested brackets with 1,000 chained
// operators inside still parse. Cedar's JSON reader (pre-parsing a set for the engine)
// refuses, cleanly, conditions nested deeper than 123 JSON levels (~61 chained `&&`).

/** Deepest nesting of `(`, `[`, `{` and `if` in a policy text (first trap: 115 nested `{a:`). */
export const MAX_POLICY_NESTING = 64;
/** Most chaining operators (`&&`, `||`, `+`, `-`, `*`, `.`) and `when`/`unless` clauses in one policy (first trap: ~3,500). */
export const MAX_POLICY_OPERATORS = 512;
/** Longest policy source (one file or one validated text), in characters. */
export const MAX_POLICY_SOURCE_CHARS = 256 * 1024;
/** Most characters over all the sources of one policy set (the defaults not counted). */
export const MAX_POLICY_SET_CHARS = 1024 * 1024;
/** Deepest policy conditions in Cedar's JSON form (Cedar reads at most 123; about 2 levels per operator). */
export const MAX_POLICY_JSON_DEPTH = 100;

/** One limit a policy text passes: which, by how much, and where. */
export interface PolicyBoundProblem {
  readonly limit: 'source_chars' | 'set_chars' | 'nesting' | 'operators';
  readonly value: number;
  readonly max: number;
  /** 1-based line of the place the limit was passed (null for lengths). */
  readonly line: number | null;
  readonly message: string;
}

const isIdentChar = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_]/.test(c);

/**
 * What a policy text's nesting and operator chains are, scanning it as Cedar's lexer would
 * outside string literals (double quotes, backslash escapes) and `//` comments. Nesting
 * counts open brackets plus each `if` seen in a bracket group still open (an `if`'s else
 * branch runs to the end of its group, so this never counts less than Cedar nests).
 * Operators reset at each `;` (one policy ends there).
 */
export function measurePolicyText(text: string): { nesting: number; nestingLine: number; operators: number; operatorsLine: number } {
  let nesting = 0;
  let nestingLine = 1;
  let operators = 0;
  let operatorsLine = 1;
  let line = 1;
  let policyOperators = 0;
  // Per open bracket group: the `if`s seen in it; the bottom entry is the top level.
  const groups: number[] = [0];
  let depth = 0;
  const note = () => {
    if (depth > nesting) {
      nesting = depth;
      nestingLine = line;
    }
  };
  const operator = () => {
    policyOperators++;
    if (policyOperators > operators) {
      operators = policyOperators;
      operatorsLine = line;
    }
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    const next = text[i + 1];
    if (c === '\n') {
      line++;
      i++;
    } else if (c === '/' && next === '/') {
      const newline = text.indexOf('\n', i);
      i = newline === -1 ? text.length : newline;
    } else if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\n') line++;
        i += text[i] === '\\' ? 2 : 1;
      }
      i++;
    } else if (c === '(' || c === '[' || c === '{') {
      groups.push(0);
      depth++;
      note();
      i++;
    } else if (c === ')' || c === ']' || c === '}') {
      // An unmatched closer is Cedar's to report; the count never goes below the top level.
      if (groups.length > 1) depth -= 1 + (groups.pop() as number);
      i++;
    } else if ((c === '&' && next === '&') || (c === '|' && next === '|')) {
      operator();
      i += 2;
    } else if (c === '+' || c === '-' || c === '*' || c === '.') {
      operator();
      i++;
    } else if (c === ';') {
      policyOperators = 0;
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      // Identifiers are skipped whole, so a letter here starts a word (after digits, `1if`
      // counts as `if`: never less than Cedar's lexer sees).
      let end = i + 1;
      while (isIdentChar(text[end])) end++;
      const word = text.slice(i, end);
      if (word === 'if') {
        groups[groups.length - 1] = (groups[groups.length - 1] as number) + 1;
        depth++;
        note();
      } else if (word === 'when' || word === 'unless') {
        operator();
      }
      i = end;
    } else {
      i++;
    }
  }
  return { nesting, nestingLine, operators, operatorsLine };
}

/**
 * The limits one policy source passes (empty when none). Checked before any Cedar call:
 * text past them could overflow Cedar's parser and corrupt its instance.
 *
 * @example
 * checkPolicyText('permit(principal, action, resource) when { ((((true)))) };') // []
 */
export function checkPolicyText(text: string): PolicyBoundProblem[] {
  if (text.length > MAX_POLICY_SOURCE_CHARS) {
    // Not scanned: its length alone refuses it.
    return [
      {
        limit: 'source_chars',
        value: text.length,
        max: MAX_POLICY_SOURCE_CHARS,
        line: null,
        message: `policy text is \`${text.length}\` characters long, over the limit of \`${MAX_POLICY_SOURCE_CHARS}\`: split it into several files`,
      },
    ];
  }
  const problems: PolicyBoundProblem[] = [];
  const { nesting, nestingLine, operators, operatorsLine } = measurePolicyText(text);
  if (nesting > MAX_POLICY_NESTING) {
    problems.push({
      limit: 'nesting',
      value: nesting,
      max: MAX_POLICY_NESTING,
      line: nestingLine,
      message:
        `policy nests brackets and \`if\`s \`${nesting}\` deep (line ${nestingLine}), over the limit of \`${MAX_POLICY_NESTING}\` Cedar's parser can take safely: ` +
        'remove redundant parentheses, or split the condition into several `when { … }` clauses or policies',
    });
  }
  if (operators > MAX_POLICY_OPERATORS) {
    problems.push({
      limit: 'operators',
      value: operators,
      max: MAX_POLICY_OPERATORS,
      line: operatorsLine,
      message:
        `policy chains \`${operators}\` operators and clauses (\`&&\`, \`||\`, \`+\`, \`-\`, \`*\`, \`.\`, \`when\`, \`unless\`; by line ${operatorsLine}), over the limit of \`${MAX_POLICY_OPERATORS}\`: ` +
        'split it into several policies, or test membership with a set (`["a", "b"].contains(x)`) instead of a chain of `||`',
    });
  }
  return problems;
}

/** The problem of a policy set whose sources together pass MAX_POLICY_SET_CHARS, else null. */
export function checkPolicySetSize(texts: readonly string[]): PolicyBoundProblem | null {
  const total = texts.reduce((n, t) => n + t.length, 0);
  if (total <= MAX_POLICY_SET_CHARS) return null;
  return {
    limit: 'set_chars',
    value: total,
    max: MAX_POLICY_SET_CHARS,
    line: null,
    message: `policy sources hold \`${total}\` characters together, over the limit of \`${MAX_POLICY_SET_CHARS}\`: remove unused policies or merge repeated ones`,
  };
}

/** How deep a JSON value nests (a scalar 0, `[]` or `{}` 1), without recursion. */
export function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop() as { value: unknown; depth: number };
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > deepest) deepest = depth + 1;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push({ value: child, depth: depth + 1 });
  }
  return deepest;
}
