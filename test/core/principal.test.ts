// Principal ids live in the same namespace as document readers (`group:NAME`, `*`), so an
// id that looks like a group reader is refused, and never matches one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrincipalSchema, type Principal } from '../../src/core/index.js';
import { readerKeysOf } from '../../src/retrieval/acl.js';
import { createHarness } from '../broker/helpers.js';
import { isWritError } from '../../src/core/index.js';

test('a principal id may not pass for a home-wide ledger subject (policy_set:, keyring:)', () => {
  for (const id of ['policy_set:sha256:abc', 'keyring:warrant']) {
    const bad = PrincipalSchema.safeParse({ id, kind: 'user', tenant: 'acme' });
    assert.equal(bad.success, false, id);
    assert.match(bad.error?.issues[0]?.message ?? '', /home-wide ledger records/);
  }
  assert.equal(PrincipalSchema.safeParse({ id: 'policy_setter', kind: 'user', tenant: 'acme' }).success, true);
});

test('a principal id may not start with group:', () => {
  const bad = PrincipalSchema.safeParse({ id: 'group:finance', kind: 'user', tenant: 'acme' });
  assert.equal(bad.success, false);
  assert.match(bad.error?.issues[0]?.message ?? '', /group:/);
  assert.equal(PrincipalSchema.safeParse({ id: 'groupie', kind: 'user', tenant: 'acme' }).success, true);
  const h = createHarness();
  try {
    assert.throws(
      () => h.broker.upsertPrincipal({ id: 'group:finance', kind: 'user', tenant: 'acme' }),
      (err: unknown) => isWritError(err, 'INVALID_INPUT') && JSON.stringify(err.details).includes('group:'),
    );
    assert.equal(h.broker.getPrincipal('group:finance'), undefined);
  } finally {
    h.close();
  }
});

test("a principal's own id never serves as a group reader key", () => {
  const forged: Principal = { id: 'group:finance', kind: 'user', tenant: 'acme', groups: ['support'], roles: [], attributes: {} };
  assert.deepEqual(readerKeysOf(forged), ['group:support', '*']);
  assert.deepEqual(readerKeysOf({ ...forged, id: 'sam' }), ['sam', 'group:support', '*']);
});
