// Catalog checks that keep policy honest: names the Cedar schema reserves are refused when
// the catalog is defined, and a param that fills a resource attribute must have that
// attribute's type and constraints (else the stored value could never reach policy).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defineCatalog, loadCatalogFile } from '../../src/broker/catalog.js';
import { isWritError } from '../../src/core/index.js';
import { SAMPLE_DIR } from './fixtures/decisions/fixtures.js';

/** The issues of a refused catalog (BROKER_CATALOG_INVALID), as `path: message`. */
function refusedIssues(input: unknown): string[] {
  try {
    defineCatalog(input);
  } catch (err) {
    assert.ok(isWritError(err, 'BROKER_CATALOG_INVALID'), `expected BROKER_CATALOG_INVALID, got ${String(err)}`);
    return (err.details['issues'] as Array<{ path: string; message: string }>).map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('expected the catalog to be refused');
}

const oneType = (type: string, attributes: Record<string, unknown> = {}) => ({
  namespace: 'Shop',
  resourceTypes: { [type]: { states: ['a'], attributes } },
  actions: { 'x.make': { resourceType: type, create: true, to: 'a', effect: 'internal' } },
});

describe('reserved names', () => {
  test('refuses a resource type named `Action` when the catalog is defined, not later at policy load', () => {
    assert.deepEqual(refusedIssues(oneType('Action')), ['resourceTypes.Action: `Action` cannot name a resource type (cedar uses it for actions): rename it']);
  });

  test('refuses principal type names and broker attributes, every problem at once', () => {
    const issues = refusedIssues({
      resourceTypes: { User: { states: ['a'], attributes: { tenant: { type: 'string' }, version: { type: 'integer' } } }, Agent: { states: ['a'] } },
      actions: { 'user.make': { resourceType: 'User', create: true, to: 'a', effect: 'internal', params: { tenant: { type: 'string' }, version: { type: 'integer' } } } },
    });
    assert.deepEqual(issues.sort(), [
      'resourceTypes.Agent: `Agent` cannot name a resource type (it is reserved for principals): rename it',
      'resourceTypes.User.attributes.tenant: `tenant` is set by the broker on every resource: rename the attribute',
      'resourceTypes.User.attributes.version: `version` is set by the broker on every resource: rename the attribute',
      'resourceTypes.User: `User` cannot name a resource type (it is reserved for principals): rename it',
    ]);
  });

  test('accepts type names that are Cedar type words but not entity types', () => {
    for (const name of ['String', 'Long', 'Set', 'Record', 'Decimal']) assert.doesNotThrow(() => defineCatalog(oneType(name)), name);
  });
});

describe('params that fill resource attributes', () => {
  const refund = (attributes: Record<string, unknown>, params: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    namespace: 'Shop',
    resourceTypes: { Refund: { states: ['open', 'spent'], attributes } },
    actions: {
      'refund.request': { resourceType: 'Refund', create: true, to: 'open', effect: 'internal', params },
      'refund.spend': { resourceType: 'Refund', from: ['open'], to: 'spent', effect: 'internal', ...extra },
    },
  });

  test('refuses a create param whose type differs from the attribute it fills', () => {
    assert.deepEqual(refusedIssues(refund({ limit: { type: 'integer', required: false } }, { limit: { type: 'string', required: false } })), [
      'actions.refund.request.params.limit: param `limit` is `string` but the attribute it fills is `integer`: use the same type',
    ]);
  });

  test('refuses an `updates` param whose type differs from the attribute it overwrites', () => {
    const input = refund({ amount: { type: 'decimal', required: false } }, {}, { params: { amount: { type: 'integer' } }, updates: ['amount'] });
    assert.deepEqual(refusedIssues(input), ['actions.refund.spend.params.amount: param `amount` is `integer` but the attribute it fills is `decimal`: use the same type']);
  });

  test('refuses looser constraints than the attribute\'s, listing every one', () => {
    const issues = refusedIssues(
      refund(
        {
          currency: { type: 'string', enum: ['EUR', 'USD'] },
          amount: { type: 'decimal', min: 0, max: 1000 },
          orderId: { type: 'string', pattern: '^ord-[0-9]+$', maxLength: 40 },
        },
        {
          currency: { type: 'string', enum: ['EUR', 'GBP'] },
          amount: { type: 'decimal', max: 5000 },
          orderId: { type: 'string', required: false, maxLength: 100 },
        },
      ),
    );
    assert.deepEqual(issues.sort(), [
      "actions.refund.request.params.amount: param `amount` must have `max` of at most the attribute's 1000",
      "actions.refund.request.params.amount: param `amount` must have `min` of at least the attribute's 0",
      "actions.refund.request.params.currency: param `currency` must list an `enum` within the attribute's (`EUR`, `USD`)",
      "actions.refund.request.params.orderId: param `orderId` `maxLength` 100 exceeds the attribute's 40",
      'actions.refund.request.params.orderId: param `orderId` is optional but fills a required attribute: make it required',
      "actions.refund.request.params.orderId: param `orderId` must use the attribute's `pattern` `^ord-[0-9]+$`",
    ]);
  });

  test('accepts params as tight as their attributes, and the sample catalog', () => {
    assert.doesNotThrow(() =>
      defineCatalog(refund({ currency: { type: 'string', enum: ['EUR', 'USD'] }, amount: { type: 'decimal', min: 0, max: 1000 } }, { currency: { type: 'string', enum: ['EUR'] }, amount: { type: 'decimal', min: 1, max: 1000 } })),
    );
    assert.doesNotThrow(() => loadCatalogFile(`${SAMPLE_DIR}catalog.yaml`));
  });
});
