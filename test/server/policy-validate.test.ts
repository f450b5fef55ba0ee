// POST /v1/policies/validate: only tenant readers may have Cedar parse text, text past the
// limits Cedar's parser takes safely is refused with 400 before Cedar sees it, and no
// attempt leaves decisions broken (the review's scenario: an agent sent 200- then
// 1000-deep parentheses, Cedar's memory stayed corrupted and legitimate proposals were
// recorded as denied).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_POLICY_NESTING, MAX_POLICY_SOURCE_CHARS } from '../../src/broker/index.js';
import { ACCOUNT_ON_FILE, startHttpFixture, type HttpFixture } from './http-helpers.js';

const deep = (n: number) => `permit (principal, action, resource) when { ${'('.repeat(n)}true${')'.repeat(n)} };`;

describe('HTTP API: validating policies', () => {
  let fx: HttpFixture;
  let sessionId: string;
  const propose = async (targetId: string, amountCents: number) => {
    const res = await fx.call('desk-agent', 'POST', '/v1/proposals', {
      sessionId,
      action: 'refund.request',
      targetId,
      params: { amountCents, currency: 'EUR', orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
    });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().decision as { outcome: string; reasons: string[]; errors: string[] };
  };

  before(async () => {
    fx = await startHttpFixture();
    sessionId = (await fx.call('desk-agent', 'POST', '/v1/sessions', {})).json().id;
    // As in the review: Cedar has decided before the attempts.
    assert.equal((await propose('rf-validate-before', 4200)).outcome, 'allow');
  });
  after(async () => fx?.close());

  test('an agent, or a user without auditor or admin, is refused with 403 AUTH_FORBIDDEN, whatever the text', async () => {
    for (const who of ['desk-agent', 'riley'] as const) {
      for (const text of ['permit (principal, action, resource);', deep(200)]) {
        const res = await fx.call(who, 'POST', '/v1/policies/validate', { sources: [{ id: 'x.cedar', text }] });
        assert.equal(res.statusCode, 403, `${who}: ${res.body}`);
        assert.equal(res.json().code, 'AUTH_FORBIDDEN');
      }
    }
  });

  test('an auditor gets valid and invalid policies as a result', async () => {
    const good = await fx.call('fatima', 'POST', '/v1/policies/validate', { sources: [{ id: 'ok.cedar', text: 'permit (principal, action, resource);' }] });
    assert.equal(good.statusCode, 200, good.body);
    assert.equal(good.json().valid, true);
    const bad = await fx.call('fatima', 'POST', '/v1/policies/validate', { sources: [{ id: 'bad.cedar', text: 'permit (principal is Nope::User, action, resource);' }] });
    assert.equal(bad.statusCode, 200, bad.body);
    assert.equal(bad.json().valid, false);
  });

  test('text nested past the limit or longer than it is refused with 400 INVALID_INPUT naming the limit, before Cedar', async () => {
    for (const n of [MAX_POLICY_NESTING, 200, 1000, 5000]) {
      const res = await fx.call('fatima', 'POST', '/v1/policies/validate', { sources: [{ id: 'ok.cedar', text: 'permit (principal, action, resource);' }, { id: 'deep.cedar', text: deep(n) }] });
      assert.equal(res.statusCode, 400, `${n}: ${res.body}`);
      assert.equal(res.json().code, 'INVALID_INPUT');
      const [issue, ...rest] = res.json().details.issues as Array<{ path: string; code: string; message: string }>;
      assert.equal(rest.length, 0);
      assert.equal(issue?.path, 'sources.1.text');
      assert.equal(issue?.code, 'nesting');
      assert.match(issue?.message ?? '', new RegExp(`\`${n + 1}\` deep .*over the limit of \`${MAX_POLICY_NESTING}\``));
    }
    const long = await fx.call('fatima', 'POST', '/v1/policies/validate', { sources: [{ id: 'long.cedar', text: `// ${'x'.repeat(MAX_POLICY_SOURCE_CHARS)}\npermit (principal, action, resource);` }] });
    assert.equal(long.statusCode, 400, long.body);
    assert.equal(long.json().details.issues[0].code, 'source_chars');
  });

  test('after 200- then 1000-deep attempts by an agent and an auditor, a proposal policy allows is still allowed, and validation still works', async () => {
    // The review's sequence, answers checked only after the decision (above for each caller).
    const statuses: number[] = [];
    for (const who of ['desk-agent', 'fatima'] as const) {
      for (const n of [200, 1000, 5000]) statuses.push((await fx.call(who, 'POST', '/v1/policies/validate', { sources: [{ id: 'x.cedar', text: deep(n) }] })).statusCode);
    }
    const decision = await propose('rf-validate-after', 4300);
    assert.equal(decision.outcome, 'allow', `${decision.reasons.join(' | ')}; errors: ${decision.errors.join(' | ')}`);
    const again = await fx.call('fatima', 'POST', '/v1/policies/validate', { sources: [{ id: 'ok.cedar', text: 'permit (principal, action, resource);' }] });
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(again.json().valid, true);
    assert.deepEqual(statuses, [403, 403, 403, 400, 400, 400]);
  });
});
