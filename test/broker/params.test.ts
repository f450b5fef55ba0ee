// Param checks for values policy must see: decimals are refused unless Cedar's `decimal`
// can hold them (at most 4 decimal places, |x| ≤ 922337203685477.5807), so no param can
// be present for the broker and absent for policy.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defineCatalog } from '../../src/broker/catalog.js';
import { cedarDecimalProblem, checkParams } from '../../src/broker/params.js';
import { isWritError } from '../../src/core/index.js';
import { createHarness } from './helpers.js';

const catalog = defineCatalog({
  namespace: 'SupportDesk',
  resourceTypes: { Refund: { states: ['requested'], attributes: {} } },
  actions: { 'refund.request': { resourceType: 'Refund', create: true, to: 'requested', effect: 'internal', params: { tip: { type: 'decimal', required: false } } } },
});
const action = catalog.actions['refund.request']!;
const check = (tip: unknown) => checkParams(action, { tip });

describe('decimal params', () => {
  test('accept values a cedar decimal holds, in canonical form', () => {
    for (const [raw, canonical] of [
      ['12.50', '12.5'],
      ['5000.0001', '5000.0001'],
      ['1.50000', '1.5'],
      ['922337203685477.5807', '922337203685477.5807'],
      ['-922337203685477.5807', '-922337203685477.5807'],
      [0.25, '0.25'],
    ] as const) {
      const { params, issues } = check(raw);
      assert.deepEqual(issues, [], `${raw} is accepted`);
      assert.equal(params['tip'], canonical);
    }
  });

  test('refuse more than 4 decimal places instead of passing a value policy cannot read', () => {
    const { params, issues } = check('5000.00001');
    assert.equal(params['tip'], undefined);
    assert.deepEqual(issues, [{ path: 'params.tip', code: 'invalid_format', message: '`5000.00001` has more than 4 decimal places, the most a policy decimal holds' }]);
    assert.equal(check(999999.123456).issues[0]?.code, 'invalid_format', 'numbers are checked as their decimal text');
  });

  test('refuse a value beyond cedar\'s decimal range with a clear message, even within 15 digits', () => {
    for (const raw of ['922337203685477.5808', '999999999999999', '-999999999999999.0', '1234567890123456789']) {
      const { issues } = check(raw);
      assert.equal(issues.length, 1, raw);
      assert.match(issues[0]?.message ?? '', /is beyond ±922337203685477\.5807, the range of a policy decimal$/, raw);
    }
  });

  test('cedarDecimalProblem names the problem, or returns null', () => {
    assert.equal(cedarDecimalProblem('1.2345'), null);
    assert.equal(cedarDecimalProblem('00000000000000001.5'), null, 'leading zeros do not count towards the size');
    assert.match(cedarDecimalProblem('1.23456') ?? '', /more than 4 decimal places/);
    assert.match(cedarDecimalProblem('922337203685478') ?? '', /beyond/);
  });

  test('a proposal with an unrepresentable decimal is refused as BROKER_PARAMS_INVALID, not authorized', () => {
    const text = [
      `@id("users_request") permit (principal is SupportDesk::User, action == SupportDesk::Action::"refund.request", resource);`,
      `@id("big_tip_forbidden") forbid (principal, action, resource) when { context.params has tip && context.params.tip.greaterThan(decimal("100.0")) };`,
    ].join('\n');
    const h = createHarness({ catalog, policies: () => [{ file: 'p.cedar', text }] });
    try {
      const denied = h.broker.proposeAndDecide(h.p['sam']!, { action: 'refund.request', targetId: 'rf-0', params: { tip: '5000.0' }, basis: [], idempotencyKey: 'k0' });
      assert.equal(denied.decision?.outcome, 'deny');
      assert.throws(
        () => h.broker.proposeAndDecide(h.p['sam']!, { action: 'refund.request', targetId: 'rf-1', params: { tip: '5000.00001' }, basis: [], idempotencyKey: 'k1' }),
        (err: unknown) => isWritError(err, 'BROKER_PARAMS_INVALID') && /`params\.tip`: `5000\.00001` has more than 4 decimal places/.test(err.message),
      );
    } finally {
      h.close();
    }
  });
});
