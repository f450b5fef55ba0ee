// Limits on policy text (src/broker/policy/bounds.ts): nesting and operator chains are
// counted as Cedar's lexer sees them (not inside strings or comments), text past a limit
// never reaches Cedar, and what is within the limits loads, pre-parses and decides.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isWritError } from '../../src/core/index.js';
import {
  checkPolicyText,
  createPolicyEngine,
  loadPolicies,
  MAX_POLICY_NESTING,
  MAX_POLICY_OPERATORS,
  MAX_POLICY_SET_CHARS,
  MAX_POLICY_SOURCE_CHARS,
  policyBoundProblems,
} from '../../src/broker/policy/index.js';
import { measurePolicyText } from '../../src/broker/policy/bounds.js';
import { factsFrom, sampleCatalog } from './fixtures/decisions/fixtures.js';

const catalog = sampleCatalog();
const HEAD = 'permit (principal, action == SupportDesk::Action::"refund.request", resource) when { ';
const nested = (n: number, open = '(', close = ')') => `${HEAD}${open.repeat(n)}true${close.repeat(n)} };`;

function problemsOf(fn: () => unknown): Array<{ file: string; policyId: string | null; message: string }> {
  try {
    fn();
  } catch (err) {
    assert.ok(isWritError(err, 'BROKER_POLICY_INVALID'), `expected BROKER_POLICY_INVALID, got ${String(err)}`);
    return err.details['problems'] as Array<{ file: string; policyId: string | null; message: string }>;
  }
  assert.fail('expected the policies to be refused');
}

describe('measuring policy text', () => {
  test('counts nesting of parentheses, brackets and braces', () => {
    assert.equal(measurePolicyText('permit (principal, action, resource);').nesting, 1);
    assert.equal(measurePolicyText('permit (principal, action, resource) when { [{a: (1)}] };').nesting, 4);
  });

  test('does not count brackets inside string literals, escaped quotes included', () => {
    const text = `permit (principal, action, resource) when { context.note == "(((([[[{{{ \\" ((((" && "\\\\" == "\\\\" };`;
    const measured = measurePolicyText(text);
    assert.equal(measured.nesting, 1);
    assert.equal(measured.operators, 3, '`when`, `.` and `&&` outside strings; none inside');
  });

  test('does not count brackets or operators inside // comments, to the end of the line only', () => {
    const text = `// ((((((((((( && || . + -\npermit (principal, action, resource) // [[[[[[[[ "\nwhen { (true) };`;
    const measured = measurePolicyText(text);
    assert.equal(measured.nesting, 2);
    assert.equal(measured.operators, 1, 'only the `when` clause');
  });

  test('a `"` inside a comment does not open a string, and `//` inside a string is no comment', () => {
    const text = `permit (principal, action, resource) when { "http://x" == "(" }; // "\npermit (principal, action, resource) when { ((true)) };`;
    assert.equal(measurePolicyText(text).nesting, 3);
  });

  test("counts each `if` as a level until its bracket group closes", () => {
    assert.equal(measurePolicyText(`${HEAD}if true then if true then 1 else 2 else 3 };`).nesting, 3);
    assert.equal(measurePolicyText(`${HEAD}(if true then 1 else 2) == (if false then 1 else 2) };`).nesting, 3);
    assert.equal(measurePolicyText(`${HEAD}context has "if" && context.iffy };`).nesting, 1, 'a string or a longer word is no `if`');
  });

  test('counts chaining operators per policy, restarting after each `;`', () => {
    const chain = (n: number) => `${HEAD}${Array(n).fill('true').join(' && ')} };`;
    assert.equal(measurePolicyText(chain(10)).operators, 10, '9 `&&` and the `when`');
    assert.equal(measurePolicyText(chain(10) + chain(10)).operators, 10);
  });
});

describe('policy limits', () => {
  test(`nesting up to ${MAX_POLICY_NESTING} loads, pre-parses and decides with real Cedar`, () => {
    const text = nested(MAX_POLICY_NESTING - 1);
    assert.deepEqual(checkPolicyText(text), []);
    const engine = createPolicyEngine({ catalog, policies: loadPolicies({ catalog, sources: [{ file: 'deep.cedar', text }], defaults: false }) });
    const facts = factsFrom('refund.request', { onBehalfOf: null });
    assert.equal(engine.decide(facts).outcome, 'allow');
  });

  for (const [name, open, close] of [
    ['parentheses', '(', ')'],
    ['sets', '[', ']'],
    ['records', '{a: ', '}'],
  ] as const) {
    test(`refuses ${name} nested past the limit before Cedar sees them, saying the limit and how to fix it`, () => {
      const text = nested(MAX_POLICY_NESTING, open, close);
      const [problem, ...rest] = problemsOf(() => loadPolicies({ catalog, sources: [{ file: 'deep.cedar', text }] }));
      assert.equal(rest.length, 0);
      assert.equal(problem?.file, 'deep.cedar');
      assert.match(problem?.message ?? '', new RegExp(`\`${MAX_POLICY_NESTING + 1}\` deep .* over the limit of \`${MAX_POLICY_NESTING}\`.*: remove redundant parentheses`));
    });
  }

  test('refuses nesting that would crash Cedar (1000 levels) and loads the next set normally', () => {
    problemsOf(() => loadPolicies({ catalog, sources: [{ file: 'deeper.cedar', text: nested(1000) }] }));
    const set = loadPolicies({ catalog, sources: [{ file: 'ok.cedar', text: `${HEAD}true };` }] });
    assert.match(set.hash, /^sha256:/);
  });

  test('refuses deeply nested `if then else` without brackets', () => {
    const text = `${HEAD}${'if true then '.repeat(MAX_POLICY_NESTING)}true${' else false'.repeat(MAX_POLICY_NESTING)} };`;
    const [problem] = problemsOf(() => loadPolicies({ catalog, sources: [{ file: 'ifs.cedar', text }] }));
    assert.match(problem?.message ?? '', /brackets and `if`s/);
  });

  test('refuses a policy chaining more operators than the limit', () => {
    const text = `${HEAD}${Array(MAX_POLICY_OPERATORS + 1).fill('true').join(' && ')} };`;
    const [problem] = problemsOf(() => loadPolicies({ catalog, sources: [{ file: 'chain.cedar', text }] }));
    assert.match(problem?.message ?? '', new RegExp(`over the limit of \`${MAX_POLICY_OPERATORS}\``));
  });

  test("refuses a chain Cedar parses but cannot pre-parse with a policy problem, not at engine creation", () => {
    const text = `${HEAD}${Array(70).fill('true').join(' && ')} };`;
    assert.deepEqual(checkPolicyText(text), [], 'within the text limits');
    const [problem] = problemsOf(() => loadPolicies({ catalog, sources: [{ file: 'long.cedar', text }] }));
    assert.equal(problem?.policyId, 'long.cedar:0');
    assert.match(problem?.message ?? '', /levels deep in Cedar's JSON form .* split long `&&` chains into several `when \{ … \}` clauses/);
    // The same conditions as separate clauses load and decide.
    const clauses = `permit (principal, action == SupportDesk::Action::"refund.request", resource)${' when { true }'.repeat(70)};`;
    const engine = createPolicyEngine({ catalog, policies: loadPolicies({ catalog, sources: [{ file: 'clauses.cedar', text: clauses }], defaults: false }) });
    assert.equal(engine.decide(factsFrom('refund.request', { onBehalfOf: null })).outcome, 'allow');
  });

  test('refuses a source longer than the limit, and sources longer together than the set limit', () => {
    const long = `// ${'x'.repeat(MAX_POLICY_SOURCE_CHARS)}\n${HEAD}true };`;
    const [problem] = problemsOf(() => loadPolicies({ catalog, sources: [{ file: 'long.cedar', text: long }] }));
    assert.match(problem?.message ?? '', new RegExp(`characters long, over the limit of \`${MAX_POLICY_SOURCE_CHARS}\`: split it`));
    const part = `// ${'x'.repeat(MAX_POLICY_SOURCE_CHARS - 100)}\n${HEAD}true };`;
    const parts = Array.from({ length: Math.ceil(MAX_POLICY_SET_CHARS / part.length) + 1 }, (_, i) => ({ file: `p${i}.cedar`, text: part }));
    const problems = problemsOf(() => loadPolicies({ catalog, sources: parts }));
    assert.deepEqual(problems.map((p) => p.file), ['(policy set)']);
    assert.deepEqual(policyBoundProblems(parts), problems);
  });

  test('every problem at once: a deep source and an invalid one are both reported', () => {
    const problems = problemsOf(() =>
      loadPolicies({
        catalog,
        sources: [
          { file: 'deep.cedar', text: nested(200) },
          { file: 'bad.cedar', text: 'permit (principal is Nope::User, action, resource);' },
        ],
      }),
    );
    assert.deepEqual(problems.map((p) => p.file).sort(), ['bad.cedar', 'deep.cedar']);
  });
});
