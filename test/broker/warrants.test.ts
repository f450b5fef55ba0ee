// Warrants and transitions: single use, expiry, forgery and tampering, lost races,
// offline verification with the JWKS, key rotation, and session revocation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { WritError, canonicalJson, isWritError, kidOf } from '../../src/core/index.js';
import { decodeWarrantPayload, splitWarrant, verifyWarrantOffline, type ProposalRecord } from '../../src/broker/index.js';
import { createHarness, refundParams, type Harness } from './helpers.js';

function caught(fn: () => unknown): WritError {
  try {
    fn();
  } catch (err) {
    if (isWritError(err)) return err;
    throw err;
  }
  assert.fail('expected a WritError');
}

/** Everything execute could change, to prove a failure changed nothing. */
function snapshot(h: Harness): string {
  const db = h.store.db;
  return JSON.stringify({
    resources: db.prepare('SELECT * FROM resources ORDER BY type, id').all(),
    warrants: db.prepare('SELECT id, status, consumed_at FROM warrants ORDER BY id').all(),
    proposals: db.prepare('SELECT id, status FROM proposals ORDER BY id').all(),
    transitions: db.prepare('SELECT * FROM transitions ORDER BY id').all(),
    ledger: db.prepare('SELECT count(*) AS n FROM ledger_entries').get(),
  });
}

describe('warrants and transitions', () => {
  let h: Harness;
  let n = 0;
  before(() => {
    h = createHarness();
  });
  after(() => h.close());

  /** Creates refund `id` in state requested (sam proposes small refunds directly). */
  function createRefund(id: string, amount = 1000): void {
    const p = h.broker.propose(h.p['sam']!, { action: 'refund.request', targetId: id, params: refundParams(amount) });
    assert.equal(h.broker.decide(p.id).outcome, 'allow');
    h.broker.execute(h.broker.issueWarrant(h.p['sam']!, p.id).token);
  }

  /** An authorized `refund.reject` proposal by sam on a fresh requested refund. */
  function authorizedReject(): ProposalRecord {
    const id = `rf-w${++n}`;
    createRefund(id);
    const p = h.broker.propose(h.p['sam']!, { action: 'refund.reject', targetId: id, params: { reason: 'duplicate' } });
    assert.equal(h.broker.decide(p.id).outcome, 'allow');
    return h.broker.getProposal(p.id)!;
  }

  test('a replayed warrant fails and changes nothing', () => {
    const p = authorizedReject();
    const { token } = h.broker.issueWarrant(h.p['sam']!, p.id);
    h.broker.execute(token);
    assert.equal(h.broker.getResource('acme', 'Refund', p.targetId)?.state, 'rejected');
    const before = snapshot(h);
    assert.equal(caught(() => h.broker.execute(token)).code, 'BROKER_WARRANT_CONSUMED');
    assert.equal(snapshot(h), before);
  });

  test('an expired warrant fails and changes nothing', () => {
    const p = authorizedReject();
    const { token, payload } = h.broker.issueWarrant(h.p['sam']!, p.id);
    h.clock.set(Date.parse(payload.exp));
    const before = snapshot(h);
    assert.equal(caught(() => h.broker.execute(token)).code, 'BROKER_WARRANT_EXPIRED');
    assert.equal(snapshot(h), before);
    assert.equal(h.broker.getResource('acme', 'Refund', p.targetId)?.state, 'requested');
  });

  test('a tampered payload, a swapped kid and a forged key all fail and change nothing', () => {
    const p = authorizedReject();
    const { token, payload } = h.broker.issueWarrant(h.p['sam']!, p.id);
    const { payloadB64, kid, signature } = splitWarrant(token);
    const before = snapshot(h);

    // Flip one byte of the payload.
    const bytes = Buffer.from(payloadB64, 'base64url');
    bytes[10] = bytes[10]! ^ 0x01;
    assert.equal(caught(() => h.broker.execute(`${bytes.toString('base64url')}.${kid}.${signature}`)).code, 'BROKER_WARRANT_SIGNATURE_INVALID');

    // Re-target the payload to another resource, keeping the signature.
    const moved = Buffer.from(canonicalJson({ ...payload, targetId: 'rf-1' })).toString('base64url');
    assert.equal(caught(() => h.broker.execute(`${moved}.${kid}.${signature}`)).code, 'BROKER_WARRANT_SIGNATURE_INVALID');

    // A kid the keyring does not hold.
    assert.equal(caught(() => h.broker.execute(`${payloadB64}.AAAAAAAAAAAAAAAAAAAAAA.${signature}`)).code, 'BROKER_WARRANT_UNKNOWN_KEY');

    // Signed by an attacker's own key, naming the attacker's kid.
    const attacker = generateKeyPairSync('ed25519');
    const x = (attacker.publicKey.export({ format: 'jwk' }) as { x: string }).x;
    const evilKid = kidOf(Buffer.from(x, 'base64url'));
    const evilSig = sign(null, Buffer.from(`${payloadB64}.${evilKid}`), attacker.privateKey).toString('base64url');
    assert.equal(caught(() => h.broker.execute(`${payloadB64}.${evilKid}.${evilSig}`)).code, 'BROKER_WARRANT_UNKNOWN_KEY');

    // Signed by the attacker but naming the broker's kid.
    const evilSig2 = sign(null, Buffer.from(`${payloadB64}.${kid}`), attacker.privateKey).toString('base64url');
    assert.equal(caught(() => h.broker.execute(`${payloadB64}.${kid}.${evilSig2}`)).code, 'BROKER_WARRANT_SIGNATURE_INVALID');

    assert.equal(caught(() => h.broker.execute('not-a-token')).code, 'BROKER_WARRANT_MALFORMED');
    assert.equal(snapshot(h), before);
    // The genuine token still works afterwards.
    h.broker.execute(token);
    assert.equal(h.broker.getResource('acme', 'Refund', p.targetId)?.state, 'rejected');
  });

  test('a validly signed warrant the broker never recorded is refused', () => {
    const p = authorizedReject();
    const { payload } = h.broker.issueWarrant(h.p['sam']!, p.id);
    // Someone holding the signing key mints a second warrant with a fresh nonce.
    const minted = { ...payload, nonce: 'BBBBBBBBBBBBBBBBBBBBBB' };
    const b64 = Buffer.from(canonicalJson(minted)).toString('base64url');
    const { kid, signature } = h.warrantKeys.sign(`${b64}.${h.warrantKeys.activeKid}`);
    assert.equal(caught(() => h.broker.execute(`${b64}.${kid}.${signature}`)).code, 'BROKER_WARRANT_NOT_ISSUED');
  });

  test('a lost race fails cleanly: the target moved between warrant and execute', () => {
    const p = authorizedReject();
    // A second proposal on the same refund wins: finance approves it first.
    const approveP = h.broker.propose(h.p['fatima']!, { action: 'refund.approve', targetId: p.targetId, params: {} });
    assert.equal(h.broker.decide(approveP.id).outcome, 'allow');
    const loser = h.broker.issueWarrant(h.p['sam']!, p.id);
    const winner = h.broker.issueWarrant(h.p['fatima']!, approveP.id);
    h.broker.execute(winner.token);
    assert.equal(h.broker.getResource('acme', 'Refund', p.targetId)?.state, 'approved');
    const before = snapshot(h);
    const err = caught(() => h.broker.execute(loser.token));
    assert.equal(err.code, 'BROKER_TARGET_CHANGED');
    assert.equal(err.details.state, 'approved');
    assert.equal(snapshot(h), before);
  });

  test('a warrant verifies offline with the published JWKS, also after key rotation', () => {
    const p = authorizedReject();
    const issued = h.broker.issueWarrant(h.p['sam']!, p.id);
    const payload = verifyWarrantOffline(issued.token, h.broker.publicJwks(), { clock: h.clock });
    assert.equal(payload.proposalHash, p.hash);
    assert.equal(payload.targetId, p.targetId);
    assert.equal(payload.expectedState, 'requested');
    assert.equal(payload.expectedVersion, 1);
    assert.deepEqual(decodeWarrantPayload(splitWarrant(issued.token).payloadB64), payload);

    const oldKid = h.warrantKeys.activeKid;
    const newKid = h.warrantKeys.rotate();
    assert.notEqual(newKid, oldKid);
    // Old-key warrants still verify (offline and in the broker) until the key is removed.
    assert.equal(verifyWarrantOffline(issued.token, h.broker.publicJwks(), { clock: h.clock }).wid, issued.warrantId);
    assert.throws(() => verifyWarrantOffline(issued.token, { keys: [] }, { clock: h.clock }), /unknown key/);
    h.broker.execute(issued.token);
    const q = authorizedReject();
    const fresh = h.broker.issueWarrant(h.p['sam']!, q.id);
    assert.equal(fresh.kid, newKid);
    assert.equal(verifyWarrantOffline(fresh.token, h.broker.publicJwks(), { clock: h.clock }).wid, fresh.warrantId);
    h.clock.advance(h.broker.config.warrantTtlMs);
    assert.throws(() => verifyWarrantOffline(fresh.token, h.broker.publicJwks(), { clock: h.clock }), /expired/);
  });

  test('revoking a session voids its pending and authorized proposals and its unused warrants', () => {
    const { broker, p: P } = h;
    const s = broker.createSession(P['desk-agent']!, { ttlMs: 600_000 });
    const big = broker.propose(P['desk-agent']!, { sessionId: s.id, action: 'refund.request', targetId: 'rf-rv1', params: refundParams(50_000) });
    assert.equal(broker.decide(big.id).outcome, 'needs_approval');
    const small = broker.propose(P['desk-agent']!, { sessionId: s.id, action: 'refund.request', targetId: 'rf-rv2', params: refundParams(500) });
    assert.equal(broker.decide(small.id).outcome, 'allow');
    const warrant = broker.issueWarrant(P['desk-agent']!, small.id);
    const result = broker.revokeSession(P['sam']!, s.id, { reason: 'agent misbehaved' });
    assert.deepEqual([...result.voidedProposals].sort(), [big.id, small.id].sort());
    assert.deepEqual(result.voidedWarrants, [warrant.warrantId]);
    assert.equal(broker.getProposal(big.id)?.status, 'voided');
    assert.equal(broker.getProposal(small.id)?.status, 'voided');
    assert.equal(caught(() => broker.execute(warrant.token)).code, 'BROKER_WARRANT_VOIDED');
    assert.equal(broker.getResource('acme', 'Refund', 'rf-rv2'), undefined);
    assert.equal(caught(() => broker.approve(P['fatima']!, big.id)).code, 'BROKER_PROPOSAL_WRONG_STATUS');
    assert.equal(
      caught(() => broker.propose(P['desk-agent']!, { sessionId: s.id, action: 'refund.request', targetId: 'rf-rv3', params: refundParams(5) })).code,
      'BROKER_SESSION_NOT_ACTIVE',
    );
    assert.ok(h.ledgerKinds().includes('session.revoked'));
  });

  test("a proposal approved after its session's time is up is carried out by its principal, not by the agent", () => {
    const { broker, p: P, clock } = h;
    const s = broker.createSession(P['desk-agent']!, { ttlMs: 120_000 });
    const big = broker.propose(P['desk-agent']!, { sessionId: s.id, action: 'refund.request', targetId: 'rf-late', params: refundParams(50_000) });
    assert.equal(broker.decide(big.id).outcome, 'needs_approval');
    const small = broker.propose(P['desk-agent']!, { sessionId: s.id, action: 'refund.request', targetId: 'rf-late2', params: refundParams(500) });
    assert.equal(broker.decide(small.id).outcome, 'allow');
    const early = broker.issueWarrant(P['desk-agent']!, small.id);
    clock.advance(121_000); // the agent's run is over; the warrant (5 min) is not
    assert.equal(broker.execute(early.token).resource?.state, 'requested', 'an issued warrant lives out its own lifetime');
    assert.equal(broker.approve(P['fatima']!, big.id).decision.outcome, 'allow');
    assert.equal(caught(() => broker.issueWarrant(P['desk-agent']!, big.id)).code, 'BROKER_SESSION_NOT_ACTIVE');
    const warrant = broker.issueWarrant(P['sam']!, big.id);
    assert.equal(broker.execute(warrant.token).resource?.state, 'requested');
  });

  test('only the actor, its principal or a service obtains a warrant', () => {
    const p = authorizedReject();
    assert.equal(caught(() => h.broker.issueWarrant(h.p['riley']!, p.id)).code, 'BROKER_WARRANT_FORBIDDEN');
    assert.equal(caught(() => h.broker.issueWarrant(h.p['globex-agent']!, p.id)).code, 'BROKER_PROPOSAL_NOT_FOUND');
    assert.ok(h.broker.issueWarrant(h.p['payments']!, p.id).token);
  });

  test('an agent proposal is denied while its on-behalf-of principal is disabled, and gets no warrant once it is', () => {
    const agent = h.p['desk-agent']!;
    const session = h.broker.createSession(agent, { ttlMs: 600_000 });
    const propose = (targetId: string) => h.broker.proposeAndDecide(agent, { sessionId: session.id, action: 'refund.request', targetId, params: refundParams(1000) });
    const authorized = propose(`rf-w${++n}`);
    assert.equal(authorized.decision?.outcome, 'allow');
    h.broker.upsertPrincipal(h.p['sam']!, { disabled: true });
    try {
      const denied = propose(`rf-w${++n}`);
      assert.equal(denied.decision?.outcome, 'deny');
      assert.deepEqual(denied.decision?.reasons, ['principal `sam` is disabled: denied']);
      assert.equal(caught(() => h.broker.issueWarrant(agent, authorized.proposal.id)).code, 'BROKER_PRINCIPAL_DISABLED');
    } finally {
      h.broker.upsertPrincipal(h.p['sam']!);
    }
    h.broker.execute(h.broker.issueWarrant(agent, authorized.proposal.id).token);
    assert.equal(h.broker.getResource('acme', 'Refund', authorized.proposal.targetId)?.state, 'requested');
  });

  test('disabling the proposer stops its authorized proposal from getting or using a warrant', () => {
    const p = authorizedReject();
    const { token } = h.broker.issueWarrant(h.p['sam']!, p.id);
    h.broker.upsertPrincipal(h.p['sam']!, { disabled: true });
    try {
      assert.equal(caught(() => h.broker.execute(token)).code, 'BROKER_PRINCIPAL_DISABLED');
      assert.equal(caught(() => h.broker.issueWarrant(h.p['payments']!, p.id)).code, 'BROKER_PRINCIPAL_DISABLED');
      assert.equal(h.broker.getResource('acme', 'Refund', p.targetId)?.state, 'requested');
    } finally {
      h.broker.upsertPrincipal(h.p['sam']!);
    }
    h.broker.execute(token);
    assert.equal(h.broker.getResource('acme', 'Refund', p.targetId)?.state, 'rejected');
  });
});
