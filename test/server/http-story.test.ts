// The whole refund-desk story over HTTP, against a real app: retrieve → propose → decide →
// approve → warrant → execute, the injected account denied, and lineage back to documents.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ACCOUNT_ON_FILE, INJECTED_ACCOUNT, startHttpFixture, type HttpFixture } from './http-helpers.js';

describe('HTTP API: the refund desk story', () => {
  let fx: HttpFixture;
  let sessionId: string;

  before(async () => {
    fx = await startHttpFixture();
    const session = await fx.call('desk-agent', 'POST', '/v1/sessions', { ttlMs: 600_000 });
    assert.equal(session.statusCode, 201, session.body);
    sessionId = session.json().id;
    assert.equal(session.json().actorId, 'desk-agent');
    assert.equal(session.json().onBehalfOf, 'sam');
  });
  after(async () => fx?.close());

  async function retrieve(query: string): Promise<{ bundleId: string; results: Array<{ documentId: string; sourceUri: string; text: string }> }> {
    const res = await fx.call('desk-agent', 'POST', '/v1/retrieve', { query, k: 5, sessionId });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  }

  async function propose(body: Record<string, unknown>) {
    const res = await fx.call('desk-agent', 'POST', '/v1/proposals', { sessionId, action: 'refund.request', ...body });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as { proposal: { id: string; status: string; targetId: string }; decision: { id: string; outcome: string; determiningPolicies: string[] } };
  }

  async function warrantAndExecute(proposalId: string) {
    const warrant = await fx.call('desk-agent', 'POST', `/v1/proposals/${proposalId}/warrant`);
    assert.equal(warrant.statusCode, 201, warrant.body);
    const { token, payload } = warrant.json();
    assert.equal(payload.proposalId, proposalId);
    const executed = await fx.call('desk-agent', 'POST', '/v1/transitions', { warrant: token });
    assert.equal(executed.statusCode, 200, executed.body);
    return { token, result: executed.json() };
  }

  test('a small refund is allowed at once, executed with a warrant, and the resource moves to requested', async () => {
    const context = await retrieve('ord-1001 ceramic teapot arrived cracked refund');
    assert.ok(context.results.some((r) => r.sourceUri.endsWith('ord-1001.md')), 'the order note is retrieved');
    const { proposal, decision } = await propose({
      targetId: 'rf-small',
      params: { amountCents: 4200, currency: 'EUR', orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
      basis: [context.bundleId],
      rationale: 'teapot arrived cracked',
    });
    assert.equal(decision.outcome, 'allow', JSON.stringify(decision));
    assert.equal(proposal.status, 'authorized');

    const { token, result } = await warrantAndExecute(proposal.id);
    assert.equal(result.transition.status, 'executed');
    assert.equal(result.proposal.status, 'executed');

    const resource = await fx.call('sam', 'GET', '/v1/resources/Refund/rf-small');
    assert.equal(resource.statusCode, 200, resource.body);
    assert.equal(resource.json().state, 'requested');
    assert.equal(resource.json().attributes.recipientAccount, ACCOUNT_ON_FILE);

    const replay = await fx.call('desk-agent', 'POST', '/v1/transitions', { warrant: token });
    assert.equal(replay.statusCode, 409);
    assert.equal(replay.json().code, 'BROKER_WARRANT_CONSUMED');
  });

  test('a large refund needs approval; the finance approver approves; then it executes', async () => {
    const context = await retrieve('refund policy amounts over 100 need finance approval');
    const { proposal, decision } = await propose({
      targetId: 'rf-large',
      params: { amountCents: 25_000, currency: 'EUR', orderId: 'ord-1002', recipientAccount: ACCOUNT_ON_FILE },
      basis: [context.bundleId],
    });
    assert.equal(decision.outcome, 'needs_approval', JSON.stringify(decision));
    assert.equal(proposal.status, 'pending_approval');

    const early = await fx.call('desk-agent', 'POST', `/v1/proposals/${proposal.id}/warrant`);
    assert.equal(early.statusCode, 409);
    assert.equal(early.json().code, 'BROKER_PROPOSAL_WRONG_STATUS');

    const pending = await fx.call('fatima', 'GET', '/v1/proposals?status=pending_approval');
    assert.ok(pending.json().proposals.some((p: { id: string }) => p.id === proposal.id));

    const approved = await fx.call('fatima', 'POST', `/v1/proposals/${proposal.id}/approve`, { note: 'checked the order' });
    assert.equal(approved.statusCode, 200, approved.body);
    assert.equal(approved.json().approval.approverId, 'fatima');
    assert.deepEqual(approved.json().approval.roles, ['finance']);
    assert.equal(approved.json().decision.outcome, 'allow');
    assert.equal(approved.json().proposal.status, 'authorized');

    const detail = await fx.call('desk-agent', 'GET', `/v1/proposals/${proposal.id}`);
    assert.equal(detail.statusCode, 200);
    assert.equal(detail.json().decisions.length, 2, 'both decisions are listed');
    assert.equal(detail.json().approvals.length, 1);

    const { result } = await warrantAndExecute(proposal.id);
    assert.equal(result.resource.state, 'requested');
    const resource = await fx.call('fatima', 'GET', '/v1/resources/Refund/rf-large');
    assert.equal(resource.json().attributes.amountCents, 25_000);
  });

  test('a recipient account copied from the retrieved ord-1003 note is denied, and nothing changes', async () => {
    const context = await retrieve('ord-1003 refund 991 pre-approved account DE44500105175407324931');
    const note = context.results.find((r) => r.sourceUri.endsWith('ord-1003.md'));
    assert.ok(note, 'the injected note is retrieved');
    assert.ok(note.text.includes(INJECTED_ACCOUNT));
    const { proposal, decision } = await propose({
      targetId: 'rf-injected',
      params: { amountCents: 7900, currency: 'EUR', orderId: 'ord-1003', recipientAccount: INJECTED_ACCOUNT },
      basis: [context.bundleId],
    });
    assert.equal(decision.outcome, 'deny', JSON.stringify(decision));
    assert.equal(proposal.status, 'denied');
    assert.ok(decision.determiningPolicies.includes('support.tainted_recipient'), JSON.stringify(decision.determiningPolicies));

    const warrant = await fx.call('desk-agent', 'POST', `/v1/proposals/${proposal.id}/warrant`);
    assert.equal(warrant.statusCode, 409);
    const resource = await fx.call('sam', 'GET', '/v1/resources/Refund/rf-injected');
    assert.equal(resource.statusCode, 404);
    assert.equal(resource.json().code, 'SERVER_RECORD_NOT_FOUND');

    const stored = await fx.call('fatima', 'GET', `/v1/decisions/${decision.id}`);
    assert.equal(stored.statusCode, 200);
    assert.deepEqual(stored.json().facts.taint.trustedParams, ['recipientAccount']);
  });

  test("a decision's lineage names the bundle it cited and the document that bundle showed", async () => {
    const context = await retrieve('ord-1001 ceramic teapot cracked');
    const documentId = context.results[0]?.documentId;
    assert.ok(documentId);
    const { decision } = await propose({
      targetId: 'rf-lineage',
      params: { amountCents: 1000, orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
      basis: [context.bundleId],
    });
    const lineage = await fx.call('fatima', 'GET', `/v1/audit/lineage/${decision.id}`);
    assert.equal(lineage.statusCode, 200, lineage.body);
    const subjects = lineage.json().entries.map((e: { subjectId: string }) => e.subjectId);
    assert.ok(subjects.includes(context.bundleId), 'the bundle is in the lineage');
    assert.ok(subjects.includes(documentId), 'the document is in the lineage');
    assert.ok(lineage.json().byKind['document.ingested']?.length >= 1);
    // The policies that decided, recorded once for the whole home, reach the tenant's auditor.
    const [policySet] = lineage.json().byKind['policy_set.activated'] ?? [];
    assert.equal(policySet?.subjectId, `policy_set:${fx.app.policy.policySetHash}`);
    assert.equal(policySet?.tenant, null);
    assert.ok(policySet?.body.policies.some((p: { text: string }) => p.text.includes('permit')), 'with the policies\' text');

    const impact = await fx.call('fatima', 'GET', `/v1/audit/impact/${documentId}`);
    assert.equal(impact.statusCode, 200);
    assert.ok(impact.json().entries.some((e: { subjectId: string }) => e.subjectId === decision.id), 'the document informed the decision');

    const verify = await fx.call('fatima', 'GET', '/v1/audit/verify');
    assert.equal(verify.statusCode, 200);
    assert.equal(verify.json().ok, true);
  });

  test('the request id in the response header is recorded in the ledger entries the request caused', async () => {
    const context = await retrieve('teapot refund');
    const res = await fx.call('desk-agent', 'POST', '/v1/proposals', {
      sessionId,
      action: 'refund.request',
      targetId: 'rf-reqid',
      params: { amountCents: 500, orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
      basis: [context.bundleId],
    });
    assert.equal(res.statusCode, 201);
    const requestId = res.headers['x-request-id'];
    assert.match(String(requestId), /^req_/);
    const entries = await fx.call('fatima', 'GET', '/v1/audit/entries?kinds=proposal.created,decision.made&limit=10000');
    const caused = entries.json().entries.filter((e: { requestId: string | null }) => e.requestId === requestId);
    assert.deepEqual(caused.map((e: { kind: string }) => e.kind).sort(), ['decision.made', 'proposal.created']);
    assert.ok(caused.every((e: { actorId: string }) => e.actorId === 'desk-agent'));
    // The same entries by request id, without paging through the ledger.
    const byRequest = await fx.call('fatima', 'GET', `/v1/audit/entries?requestId=${String(requestId)}`);
    assert.equal(byRequest.statusCode, 200, byRequest.body);
    assert.deepEqual(byRequest.json().entries.map((e: { seq: number }) => e.seq), caused.map((e: { seq: number }) => e.seq));
    assert.deepEqual((await fx.call('fatima', 'GET', '/v1/audit/entries?requestId=req_none')).json().entries, []);

    const bundleEntry = (await fx.call('fatima', 'GET', '/v1/audit/entries?kinds=bundle.sealed&limit=10000'))
      .json()
      .entries.find((e: { subjectId: string }) => e.subjectId === context.bundleId);
    assert.match(bundleEntry.requestId, /^req_/, 'the retrieval recorded its own request id');
  });

  test('proposals in flight together are each decided and recorded; a refused one answers its error and its record is kept', async () => {
    const context = await retrieve('teapot refund');
    const good = (i: number) => ({
      sessionId,
      action: 'refund.request',
      targetId: `rf-group-${i}`,
      params: { amountCents: 300 + i, orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
      basis: [context.bundleId],
    });
    const bad = { sessionId, action: 'refund.request', targetId: 'rf-group-bad', params: { amountCents: 'lots', orderId: 'ord-1001' }, basis: [] };
    // Sent at once, so the server groups their commits.
    const responses = await Promise.all([good(1), bad, good(2), good(3)].map((body) => fx.call('desk-agent', 'POST', '/v1/proposals', body)));
    assert.deepEqual(responses.map((r) => r.statusCode), [201, 400, 201, 201]);
    assert.equal(responses[1]!.json().code, 'BROKER_PARAMS_INVALID');
    const ids = [0, 2, 3].map((i) => responses[i]!.json().proposal.id as string);
    for (const id of ids) assert.equal((await fx.call('desk-agent', 'GET', `/v1/proposals/${id}`)).statusCode, 200);
    const rejectedRequestId = responses[1]!.headers['x-request-id'];
    const rejected = (await fx.call('fatima', 'GET', '/v1/audit/entries?kinds=proposal.rejected&limit=10000'))
      .json()
      .entries.filter((e: { requestId: string | null }) => e.requestId === rejectedRequestId);
    assert.equal(rejected.length, 1, 'the refusal is recorded in the ledger');
    assert.equal(rejected[0].body.code, 'BROKER_PARAMS_INVALID');
    assert.equal((await fx.call('fatima', 'GET', '/v1/audit/verify')).json().ok, true);
  });

  test('an idempotent retry returns the same proposal and decision without deciding again', async () => {
    const context = await retrieve('teapot refund');
    const body = {
      sessionId,
      action: 'refund.request',
      targetId: 'rf-idem',
      params: { amountCents: 700, orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
      basis: [context.bundleId],
      idempotencyKey: 'retry-1',
    };
    const first = await fx.call('desk-agent', 'POST', '/v1/proposals', body);
    const second = await fx.call('desk-agent', 'POST', '/v1/proposals', body);
    assert.equal(first.statusCode, 201);
    assert.equal(second.statusCode, 200);
    assert.equal(second.json().proposal.id, first.json().proposal.id);
    assert.equal(second.json().decision.id, first.json().decision.id);
  });

  test('a bundle reads back sealed, and goes stale when its document is revoked', async () => {
    const ingest = await fx.call('sam', 'POST', '/v1/documents', {
      sourceUri: 'kb://macros/greeting',
      title: 'Greeting macro',
      text: 'Always greet the customer by name and thank them for their patience with the porcelain kettle.',
      readers: ['group:support'],
      format: 'text',
    });
    assert.equal(ingest.statusCode, 201, ingest.body);
    const documentId = ingest.json().documentId;
    const again = await fx.call('sam', 'POST', '/v1/documents', {
      sourceUri: 'kb://macros/greeting',
      title: 'Greeting macro',
      text: 'Always greet the customer by name and thank them for their patience with the porcelain kettle.',
      readers: ['group:support'],
      format: 'text',
    });
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().status, 'unchanged');

    const listed = await fx.call('riley', 'GET', '/v1/documents?limit=1000');
    assert.ok(listed.json().documents.some((d: { id: string }) => d.id === documentId));

    const context = await retrieve('porcelain kettle greeting patience');
    assert.ok(context.results.some((r) => r.documentId === documentId));
    const fresh = await fx.call('desk-agent', 'GET', `/v1/bundles/${context.bundleId}`);
    assert.equal(fresh.statusCode, 200);
    assert.equal(fresh.json().freshness.fresh, true);
    assert.match(fresh.json().bundle.seal, /^sha256:/);

    const revoked = await fx.call('sam', 'DELETE', `/v1/documents/${documentId}`);
    assert.equal(revoked.statusCode, 200, revoked.body);
    assert.equal(revoked.json().revoked, true);
    const stale = await fx.call('desk-agent', 'GET', `/v1/bundles/${context.bundleId}`);
    assert.equal(stale.json().freshness.fresh, false);
    assert.equal(stale.json().freshness.stale[0].reason, 'revoked');
    const after = await retrieve('porcelain kettle greeting patience');
    assert.ok(!after.results.some((r) => r.documentId === documentId), 'a revoked document is never retrieved');

    // A folder sync (`keepRevoked=true`) leaves it revoked; sending it on its own restores it.
    const greeting = {
      sourceUri: 'kb://macros/greeting',
      title: 'Greeting macro',
      text: 'Always greet the customer by name and thank them for their patience with the porcelain kettle.',
      readers: ['group:support'],
      format: 'text',
    };
    const synced = await fx.call('sam', 'POST', '/v1/documents?keepRevoked=true', greeting);
    assert.equal(synced.statusCode, 200, synced.body);
    assert.equal(synced.json().status, 'kept_revoked');
    assert.ok(!(await retrieve('porcelain kettle greeting patience')).results.some((r) => r.documentId === documentId));
    const bad = await fx.call('sam', 'POST', '/v1/documents?keepRevoked=maybe', greeting);
    assert.equal(bad.statusCode, 400, bad.body);
    const restored = await fx.call('sam', 'POST', '/v1/documents', greeting);
    assert.equal(restored.json().status, 'updated');
    assert.ok((await retrieve('porcelain kettle greeting patience')).results.some((r) => r.documentId === documentId));
  });

  test('ending a session voids its pending proposals', async () => {
    const s = await fx.call('desk-agent', 'POST', '/v1/sessions', {});
    const id = s.json().id as string;
    const context = (await fx.call('desk-agent', 'POST', '/v1/retrieve', { query: 'refund policy', k: 2, sessionId: id })).json();
    const p = await fx.call('desk-agent', 'POST', '/v1/proposals', {
      sessionId: id,
      action: 'refund.request',
      targetId: 'rf-voided',
      params: { amountCents: 50_000, orderId: 'ord-1002', recipientAccount: ACCOUNT_ON_FILE },
      basis: [context.bundleId],
    });
    assert.equal(p.json().proposal.status, 'pending_approval');
    const ended = await fx.call('desk-agent', 'POST', `/v1/sessions/${id}/end`, { reason: 'done' });
    assert.equal(ended.statusCode, 200, ended.body);
    assert.deepEqual(ended.json().voidedProposals, [p.json().proposal.id]);
    const read = await fx.call('sam', 'GET', `/v1/sessions/${id}`);
    assert.equal(read.json().status, 'ended');
  });
});
