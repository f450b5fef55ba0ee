// Authentication and authorization over HTTP: missing and bad keys, agents approving,
// cross-tenant reads, principals forged in bodies, role guards, rate and size limits.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { APPEND_ONLY_TRIGGERS, APPEND_ONLY_TRIGGERS_SQL, type LedgerEntry } from '../../src/ledger/index.js';
import { buildServer } from '../../src/server/index.js';
import { ACCOUNT_ON_FILE, startHttpFixture, type HttpFixture } from './http-helpers.js';

describe('HTTP API: authentication and tenant isolation', () => {
  let fx: HttpFixture;
  let sessionId: string;
  let bundleId: string;
  /** A pending (large) refund proposal of acme. */
  let pendingId: string;
  let decisionId: string;

  before(async () => {
    fx = await startHttpFixture();
    sessionId = (await fx.call('desk-agent', 'POST', '/v1/sessions', {})).json().id;
    bundleId = (await fx.call('desk-agent', 'POST', '/v1/retrieve', { query: 'refund policy teapot', k: 3, sessionId })).json().bundleId;
    const p = await fx.call('desk-agent', 'POST', '/v1/proposals', {
      sessionId,
      action: 'refund.request',
      targetId: 'rf-auth-large',
      params: { amountCents: 30_000, orderId: 'ord-1002', recipientAccount: ACCOUNT_ON_FILE },
      basis: [bundleId],
    });
    assert.equal(p.statusCode, 201, p.body);
    assert.equal(p.json().proposal.status, 'pending_approval');
    pendingId = p.json().proposal.id;
    decisionId = p.json().decision.id;
  });
  after(async () => fx?.close());

  test('a request without a key is refused with 401 AUTH_MISSING_KEY and a request id', async () => {
    const res = await fx.call(null, 'GET', '/v1/proposals');
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().code, 'AUTH_MISSING_KEY');
    assert.equal(res.json().requestId, res.headers['x-request-id']);
  });

  test('a wrong, malformed or other-scheme key is refused with 401 AUTH_INVALID_KEY', async () => {
    const real = fx.key('sam');
    const tampered = `${real.slice(0, -4)}${real.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    for (const authorization of [`Bearer ${tampered}`, 'Bearer writ_nope', `Basic ${Buffer.from('sam:pw').toString('base64')}`]) {
      const res = await fx.server.inject({ method: 'GET', url: '/v1/proposals', headers: { authorization } });
      assert.equal(res.statusCode, 401, authorization);
      assert.equal(res.json().code, 'AUTH_INVALID_KEY');
    }
  });

  test('a key in the x-api-key header authenticates too', async () => {
    const res = await fx.server.inject({ method: 'GET', url: '/v1/catalog', headers: { 'x-api-key': fx.key('riley') } });
    assert.equal(res.statusCode, 200);
    assert.ok(res.json().actions['refund.request']);
  });

  test('an agent cannot approve (403) and the proposal stays pending', async () => {
    const res = await fx.call('desk-agent', 'POST', `/v1/proposals/${pendingId}/approve`, {});
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().code, 'BROKER_APPROVER_NOT_HUMAN');
    const read = await fx.call('fatima', 'GET', `/v1/proposals/${pendingId}`);
    assert.equal(read.json().proposal.status, 'pending_approval');
    assert.equal(read.json().approvals.length, 0);
  });

  test('a user without the obligation role, or the principal the agent acts for, cannot approve', async () => {
    const riley = await fx.call('riley', 'POST', `/v1/proposals/${pendingId}/approve`);
    assert.equal(riley.statusCode, 403);
    assert.equal(riley.json().code, 'BROKER_APPROVER_LACKS_ROLE');
    const sam = await fx.call('sam', 'POST', `/v1/proposals/${pendingId}/approve`, { note: 'mine' });
    assert.equal(sam.statusCode, 403);
    assert.equal(sam.json().code, 'BROKER_APPROVER_IS_PROPOSER');
  });

  test('a principal named in a proposal body is refused as INVALID_INPUT and nothing is recorded', async () => {
    const before = fx.app.ledger.head().seq;
    const proposalsBefore = (await fx.call('fatima', 'GET', '/v1/proposals?limit=1000')).json().proposals.length;
    for (const forged of [{ actor: 'fatima' }, { actorId: 'fatima' }, { principal: { id: 'fatima' } }, { onBehalfOf: 'fatima' }, { tenant: 'globex' }]) {
      const res = await fx.call('desk-agent', 'POST', '/v1/proposals', {
        sessionId,
        action: 'refund.request',
        targetId: 'rf-forged',
        params: { amountCents: 100, orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
        basis: [bundleId],
        ...forged,
      });
      assert.equal(res.statusCode, 400, JSON.stringify(forged));
      assert.equal(res.json().code, 'INVALID_INPUT');
      assert.ok(res.json().details.issues.length >= 1);
    }
    assert.equal(fx.app.ledger.head().seq, before, 'no ledger entry was appended');
    assert.equal((await fx.call('fatima', 'GET', '/v1/proposals?limit=1000')).json().proposals.length, proposalsBefore);
    assert.equal((await fx.call('sam', 'GET', '/v1/resources/Refund/rf-forged')).statusCode, 404);
  });

  test('an approver named in an approve body is refused as INVALID_INPUT and the proposal stays pending', async () => {
    const before = fx.app.ledger.head().seq;
    const res = await fx.call('riley', 'POST', `/v1/proposals/${pendingId}/approve`, { approver: 'fatima', note: 'on behalf of fatima' });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'INVALID_INPUT');
    assert.equal(res.json().details.issues[0].code, 'unrecognized_keys');
    assert.equal(fx.app.ledger.head().seq, before);
    assert.equal((await fx.call('fatima', 'GET', `/v1/proposals/${pendingId}`)).json().proposal.status, 'pending_approval');
  });

  test("another tenant's agent gets 404 for acme's proposal, bundle, decision, resource and session", async () => {
    const executed = await fx.call('desk-agent', 'POST', '/v1/proposals', {
      sessionId,
      action: 'refund.request',
      targetId: 'rf-auth-small',
      params: { amountCents: 900, orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
      basis: [bundleId],
    });
    const token = (await fx.call('desk-agent', 'POST', `/v1/proposals/${executed.json().proposal.id}/warrant`)).json().token;
    assert.equal((await fx.call('desk-agent', 'POST', '/v1/transitions', { warrant: token })).statusCode, 200);

    const expectations: Array<[string, string, string]> = [
      ['GET', `/v1/proposals/${pendingId}`, 'BROKER_PROPOSAL_NOT_FOUND'],
      ['POST', `/v1/proposals/${pendingId}/decide`, 'BROKER_PROPOSAL_NOT_FOUND'],
      ['POST', `/v1/proposals/${pendingId}/approve`, 'BROKER_PROPOSAL_NOT_FOUND'],
      ['POST', `/v1/proposals/${pendingId}/warrant`, 'BROKER_PROPOSAL_NOT_FOUND'],
      ['GET', `/v1/bundles/${bundleId}`, 'RETRIEVAL_BUNDLE_NOT_FOUND'],
      ['GET', `/v1/decisions/${decisionId}`, 'BROKER_DECISION_NOT_FOUND'],
      ['GET', '/v1/resources/Refund/rf-auth-small', 'SERVER_RECORD_NOT_FOUND'],
      ['GET', `/v1/sessions/${sessionId}`, 'BROKER_SESSION_NOT_FOUND'],
    ];
    for (const [method, url, code] of expectations) {
      const res = await fx.call('globex-agent', method, url);
      assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
      assert.equal(res.json().code, code, `${method} ${url}`);
    }
    // The same answer as for ids that do not exist at all.
    const missing = await fx.call('globex-agent', 'GET', '/v1/proposals/prp_does_not_exist');
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'BROKER_PROPOSAL_NOT_FOUND');

    const list = await fx.call('globex-agent', 'GET', `/v1/proposals?limit=1000&sessionId=${sessionId}`);
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json().proposals, [], "an acme session's proposals are not globex's to list");

    const reuse = await fx.call('globex-agent', 'POST', '/v1/transitions', { warrant: token });
    assert.equal(reuse.statusCode, 403);
    assert.equal(reuse.json().code, 'BROKER_TENANT_MISMATCH');
  });

  test("another tenant's retrieval never returns an acme chunk, and its document list holds none", async () => {
    const acmeDocs = new Set<string>((await fx.call('sam', 'GET', '/v1/documents?limit=1000')).json().documents.map((d: { id: string }) => d.id));
    assert.ok(acmeDocs.size >= 5);
    const globexSession = (await fx.call('globex-agent', 'POST', '/v1/sessions', {})).json().id;
    for (const query of ['cracked ceramic teapot ord-1001 refund', 'refund policy finance approval', 'approve refund 991 DE44500105175407324931']) {
      const res = await fx.call('globex-agent', 'POST', '/v1/retrieve', { query, k: 20, sessionId: globexSession });
      assert.equal(res.statusCode, 200, res.body);
      for (const r of res.json().results) assert.ok(!acmeDocs.has(r.documentId), `globex saw acme document ${r.documentId}`);
    }
    const globexDocs = (await fx.call('globex-agent', 'GET', '/v1/documents')).json().documents;
    assert.ok(globexDocs.length >= 1);
    assert.ok(globexDocs.every((d: { tenant: string; id: string }) => d.tenant === 'globex' && !acmeDocs.has(d.id)));
  });

  test('audit, lineage and policies need auditor or admin; lineage stays inside the tenant', async () => {
    for (const url of ['/v1/audit/verify', `/v1/audit/lineage/${decisionId}`, '/v1/audit/entries', '/v1/policies']) {
      const res = await fx.call('desk-agent', 'GET', url);
      assert.equal(res.statusCode, 403, url);
      assert.equal(res.json().code, 'AUTH_FORBIDDEN');
    }
    assert.equal((await fx.call('fatima', 'GET', `/v1/audit/lineage/${decisionId}`)).statusCode, 200);
    const entries = (await fx.call('fatima', 'GET', '/v1/audit/entries?limit=10000')).json().entries;
    assert.ok(entries.length > 0 && entries.every((e: { tenant: string }) => e.tenant === 'acme'));
    const policies = await fx.call('fatima', 'GET', '/v1/policies');
    assert.match(policies.json().policySetHash, /^sha256:/);
    assert.ok(policies.json().policies.some((p: { id: string }) => p.id === 'support.tainted_recipient'));
  });

  test("audit verify gives a tenant's auditor the chain's verdict and its own figures, never another tenant's counts, head or bad entry", async () => {
    fx.app.broker.upsertPrincipal({ id: 'globex-auditor', kind: 'user', tenant: 'globex', roles: ['auditor'], groups: [] });
    const globexHeaders = { authorization: `Bearer ${fx.app.keys.create('globex-auditor').key}` };
    // acme appends last, so the head of the chain is acme's.
    assert.equal((await fx.call('desk-agent', 'POST', '/v1/retrieve', { query: 'refund policy', k: 2, sessionId })).statusCode, 200);
    const head = fx.app.ledger.head();
    const whole = await fx.app.ledger.verifyAsync();
    assert.equal(whole.ok, true);
    const entriesOf = (tenant: string) => fx.app.ledger.entries({ tenant, limit: 10_000 });
    assert.equal(entriesOf('acme').at(-1)?.seq, head.seq);
    const globexEntries = entriesOf('globex');
    assert.ok(globexEntries.length > 0 && globexEntries.length < whole.checked);
    const newestGlobex = globexEntries.at(-1) as LedgerEntry;

    const globex = await fx.server.inject({ method: 'GET', url: '/v1/audit/verify', headers: globexHeaders });
    assert.equal(globex.statusCode, 200, globex.body);
    assert.deepEqual(globex.json(), {
      ok: true,
      tenant: 'globex',
      checked: globexEntries.length,
      lastChecked: { seq: newestGlobex.seq, hash: newestGlobex.hash, at: newestGlobex.at },
    });
    assert.ok(!globex.body.includes(head.hash) && !globex.body.includes(`"seq":${head.seq}`), "acme's head stays out");
    const acme = (await fx.call('fatima', 'GET', '/v1/audit/verify')).json();
    assert.deepEqual([acme.tenant, acme.checked, acme.lastChecked?.seq], ['acme', entriesOf('acme').length, head.seq]);

    // An edited acme entry: acme's auditor is told which, globex's only that one outside its tenant failed.
    const edited = entriesOf('acme')[0] as LedgerEntry;
    const db = fx.app.store.db;
    const originalBody = db.prepare('SELECT body FROM ledger_entries WHERE seq = ?').pluck().get(edited.seq) as string;
    const setBody = (body: string) => {
      for (const t of APPEND_ONLY_TRIGGERS) db.exec(`DROP TRIGGER ${t}`);
      try {
        db.prepare('UPDATE ledger_entries SET body = ? WHERE seq = ?').run(body, edited.seq);
      } finally {
        db.exec(APPEND_ONLY_TRIGGERS_SQL);
      }
    };
    setBody('{"edited":true}');
    try {
      const broken = await fx.server.inject({ method: 'GET', url: '/v1/audit/verify', headers: globexHeaders });
      assert.equal(broken.statusCode, 200, broken.body);
      const seen = broken.json();
      assert.equal(seen.ok, false);
      assert.equal(seen.checked, globexEntries.filter((e) => e.seq < edited.seq).length);
      assert.deepEqual(seen.firstBad, {
        problem: 'hash_mismatch',
        message: 'an entry outside your tenant failed verification: an operator with the database can name it with `writ audit verify`',
      });
      const named = (await fx.call('fatima', 'GET', '/v1/audit/verify')).json();
      assert.deepEqual([named.ok, named.firstBad?.seq, named.firstBad?.problem], [false, edited.seq, 'hash_mismatch']);
    } finally {
      setBody(originalBody);
    }
    assert.equal((await fx.app.ledger.verifyAsync()).ok, true);
  });

  test('an agent holding auditor or admin still gets no tenant-wide read: audit, policies, others\' bundles and sessions', async () => {
    fx.app.broker.upsertPrincipal({ id: 'audit-agent', kind: 'agent', tenant: 'acme', roles: ['auditor', 'admin'], groups: [] });
    const headers = { authorization: `Bearer ${fx.app.keys.create('audit-agent').key}` };
    const samBundle = (await fx.call('sam', 'POST', '/v1/retrieve', { query: 'refund policy', k: 2 })).json().bundleId;
    const samSession = (await fx.call('sam', 'POST', '/v1/sessions', {})).json().id;
    const urls = ['/v1/audit/verify', `/v1/audit/lineage/${decisionId}`, `/v1/audit/impact/${bundleId}`, '/v1/audit/entries', '/v1/policies', `/v1/bundles/${samBundle}`, `/v1/sessions/${samSession}`];
    for (const url of urls) {
      const res = await fx.server.inject({ method: 'GET', url, headers });
      assert.equal(res.statusCode, 403, `${url}: ${res.body}`);
      assert.equal(res.json().code, 'AUTH_FORBIDDEN', url);
    }
    // The same roles on a user do open them.
    fx.app.broker.upsertPrincipal({ id: 'audit-user', kind: 'user', tenant: 'acme', roles: ['auditor'], groups: [] });
    const userHeaders = { authorization: `Bearer ${fx.app.keys.create('audit-user').key}` };
    for (const url of urls) assert.equal((await fx.server.inject({ method: 'GET', url, headers: userHeaders })).statusCode, 200, url);
  });

  test("an agent sees only its own proposals and their decisions; people of the tenant see the tenant's", async () => {
    const samsProposal = await fx.call('sam', 'POST', '/v1/proposals', {
      action: 'refund.request',
      targetId: 'rf-auth-sam',
      params: { amountCents: 300, orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
      rationale: 'private to the tenant people',
    });
    assert.equal(samsProposal.statusCode, 201, samsProposal.body);
    const { proposal, decision } = samsProposal.json();

    // Not the agent's: reported missing, like another tenant's, and not decided again.
    const before = fx.app.ledger.head().seq;
    for (const [method, url, code] of [
      ['GET', `/v1/proposals/${proposal.id}`, 'BROKER_PROPOSAL_NOT_FOUND'],
      ['POST', `/v1/proposals/${proposal.id}/decide`, 'BROKER_PROPOSAL_NOT_FOUND'],
      ['GET', `/v1/decisions/${decision.id}`, 'BROKER_DECISION_NOT_FOUND'],
    ] as const) {
      const res = await fx.call('desk-agent', method, url);
      assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
      assert.equal(res.json().code, code);
    }
    assert.equal(fx.app.ledger.head().seq, before, 'nothing decided, nothing recorded');

    // The agent's list holds only its own proposals, with or without a session filter.
    for (const url of ['/v1/proposals?limit=1000', `/v1/proposals?limit=1000&sessionId=${sessionId}`]) {
      const own = (await fx.call('desk-agent', 'GET', url)).json().proposals as Array<{ id: string; actorId: string }>;
      assert.ok(own.some((p) => p.id === pendingId), url);
      assert.ok(!own.some((p) => p.id === proposal.id), url);
      assert.ok(own.every((p) => p.actorId === 'desk-agent'), url);
    }

    // What MCP's proposal_status needs: the agent's own proposal, its decision and approvals.
    const mine = await fx.call('desk-agent', 'GET', `/v1/proposals/${pendingId}`);
    assert.equal(mine.statusCode, 200);
    assert.equal(mine.json().decision.id, decisionId);
    assert.equal((await fx.call('desk-agent', 'GET', `/v1/decisions/${decisionId}`)).statusCode, 200);

    // People follow the tenant's proposal workflow.
    const rileyList = (await fx.call('riley', 'GET', '/v1/proposals?limit=1000')).json().proposals.map((p: { id: string }) => p.id);
    assert.ok(rileyList.includes(proposal.id) && rileyList.includes(pendingId));
    assert.equal((await fx.call('riley', 'GET', `/v1/proposals/${proposal.id}`)).statusCode, 200);
  });

  test("another agent's approve, reject and warrant of a proposal it may not see answer exactly as for an unknown id", async () => {
    fx.app.broker.upsertPrincipal({ id: 'peer-agent', kind: 'agent', tenant: 'acme', roles: ['support_agent', 'finance', 'admin'], groups: ['support'] });
    const headers = { authorization: `Bearer ${fx.app.keys.create('peer-agent').key}` };
    const unknownId = `${pendingId.slice(0, -4)}${pendingId.endsWith('ZZZZ') ? 'YYYY' : 'ZZZZ'}`;
    const before = fx.app.ledger.head().seq;
    for (const [verb, payload] of [['approve', {}], ['reject', { reason: 'not mine to judge' }], ['warrant', undefined]] as const) {
      const call = (id: string) => fx.server.inject({ method: 'POST', url: `/v1/proposals/${id}/${verb}`, headers, ...(payload === undefined ? {} : { payload }) });
      const [real, unknown] = [await call(pendingId), await call(unknownId)];
      assert.equal(real.statusCode, 404, `${verb}: ${real.body}`);
      const strip = (body: { code: string; message: string; details: Record<string, unknown> }, id: string) => ({
        code: body.code,
        message: body.message.replace(id, 'ID'),
        details: { ...body.details, proposalId: 'ID' },
      });
      assert.deepEqual(strip(real.json(), pendingId), strip(unknown.json(), unknownId), verb);
      assert.equal(unknown.statusCode, 404, verb);
    }
    assert.equal(fx.app.ledger.head().seq, before, 'nothing recorded');
    assert.equal((await fx.call('desk-agent', 'GET', `/v1/proposals/${pendingId}`)).json().proposal.status, 'pending_approval');
    // People of the tenant may see it: they keep the precise refusal.
    const riley = await fx.call('riley', 'POST', `/v1/proposals/${pendingId}/warrant`);
    assert.equal(riley.statusCode, 403);
    assert.equal(riley.json().code, 'BROKER_WARRANT_FORBIDDEN');
  });

  test('an agent holding executor or admin may not report a transition; services and executor users get past the guard', async () => {
    const small = await fx.call('desk-agent', 'POST', '/v1/proposals', {
      sessionId,
      action: 'refund.request',
      targetId: 'rf-auth-report',
      params: { amountCents: 300, orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
    });
    assert.equal(small.json().decision.outcome, 'allow', small.body);
    const { token } = (await fx.call('desk-agent', 'POST', `/v1/proposals/${small.json().proposal.id}/warrant`)).json();
    fx.app.broker.upsertPrincipal({ id: 'exec-agent', kind: 'agent', tenant: 'acme', roles: ['executor', 'admin'], groups: [] });
    fx.app.broker.upsertPrincipal({ id: 'exec-user', kind: 'user', tenant: 'acme', roles: ['executor'], groups: [] });
    const report = (key: string) =>
      fx.server.inject({ method: 'POST', url: '/v1/transitions/report', headers: { authorization: `Bearer ${key}` }, payload: { warrant: token, outcome: 'succeeded' } });
    const before = fx.app.ledger.head().seq;
    const refused = await report(fx.app.keys.create('exec-agent').key);
    assert.equal(refused.statusCode, 403, refused.body);
    assert.equal(refused.json().code, 'AUTH_FORBIDDEN');
    assert.match(refused.json().message, /is an agent and may not report transitions/);
    assert.equal(fx.app.ledger.head().seq, before, 'nothing recorded');
    // A user with the role, and a service, reach the broker (this warrant's transition is not external).
    for (const key of [fx.app.keys.create('exec-user').key, fx.key('payouts')]) {
      const res = await report(key);
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().code, 'BROKER_TRANSITION_NOT_IN_FLIGHT');
    }
  });

  test('only users or services with the ingest role may ingest or revoke documents', async () => {
    const doc = { sourceUri: 'kb://x', text: 'some text about kettles', readers: ['*'] };
    for (const who of ['desk-agent', 'riley', 'fatima'] as const) {
      const res = await fx.call(who, 'POST', '/v1/documents', doc);
      assert.equal(res.statusCode, 403, who);
      assert.equal(res.json().code, 'AUTH_FORBIDDEN');
    }
    const body = await fx.call('sam', 'POST', '/v1/documents', { ...doc, tenant: 'globex' });
    assert.equal(body.statusCode, 400, 'the tenant comes from the key, never the body');
  });

  test('a session of another actor cannot be read, charged or closed by a same-tenant user without a role', async () => {
    const read = await fx.call('riley', 'GET', `/v1/sessions/${sessionId}`);
    assert.equal(read.statusCode, 403);
    const end = await fx.call('riley', 'POST', `/v1/sessions/${sessionId}/end`);
    assert.equal(end.statusCode, 403);
    assert.equal(end.json().code, 'BROKER_SESSION_FORBIDDEN');
    const charge = await fx.call('riley', 'POST', '/v1/retrieve', { query: 'refund', k: 1, sessionId });
    assert.equal(charge.statusCode, 404);
  });

  test('warrant verification answers valid for a real warrant and invalid for a tampered one', async () => {
    const p = await fx.call('desk-agent', 'POST', '/v1/proposals', {
      sessionId,
      action: 'refund.request',
      targetId: 'rf-verify',
      params: { amountCents: 300, orderId: 'ord-1001', recipientAccount: ACCOUNT_ON_FILE },
      basis: [bundleId],
    });
    const { token } = (await fx.call('desk-agent', 'POST', `/v1/proposals/${p.json().proposal.id}/warrant`)).json();
    const ok = await fx.call('riley', 'POST', '/v1/warrants/verify', { token });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().valid, true);
    assert.equal(ok.json().payload.targetId, 'rf-verify');
    const [payload, kid, signature] = token.split('.');
    const forged = `${payload}.${kid}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    const bad = await fx.call('riley', 'POST', '/v1/warrants/verify', { token: forged });
    assert.equal(bad.json().valid, false);
    assert.equal(bad.json().reason, 'BROKER_WARRANT_SIGNATURE_INVALID');
    const exec = await fx.call('desk-agent', 'POST', '/v1/transitions', { warrant: forged });
    assert.equal(exec.statusCode, 401);
    assert.equal(exec.json().code, 'BROKER_WARRANT_SIGNATURE_INVALID');
  });

  test('policy validation reports every problem as a result, not an error (auditors; others get 403)', async () => {
    const refused = await fx.call('riley', 'POST', '/v1/policies/validate', { sources: [{ id: 'x.cedar', text: 'permit (principal, action, resource);' }] });
    assert.equal(refused.statusCode, 403, refused.body);
    assert.equal(refused.json().code, 'AUTH_FORBIDDEN');
    const good = await fx.call('fatima', 'POST', '/v1/policies/validate', {
      sources: [{ id: 'extra.cedar', text: '@id("extra.notes")\npermit (principal is SupportDesk::User, action == SupportDesk::Action::"ticket.note", resource);' }],
    });
    assert.equal(good.statusCode, 200, good.body);
    assert.equal(good.json().valid, true);
    assert.ok(good.json().policies.includes('extra.notes'));
    const bad = await fx.call('fatima', 'POST', '/v1/policies/validate', { sources: [{ id: 'bad.cedar', text: 'permit (principal is Nope::User, action, resource);' }] });
    assert.equal(bad.statusCode, 200);
    assert.equal(bad.json().valid, false);
    assert.equal(bad.json().problems[0].file, 'bad.cedar');
  });

  test('the per-principal rate limit answers 429 with Retry-After, per principal', async () => {
    const limited = await buildServer(fx.app, { logger: false, rateLimit: { ratePerSecond: 0.5, burst: 2 } });
    try {
      const get = (who: 'sam' | 'riley') => limited.inject({ method: 'GET', url: '/v1/catalog', headers: fx.auth(who) });
      assert.equal((await get('sam')).statusCode, 200);
      assert.equal((await get('sam')).statusCode, 200);
      const third = await get('sam');
      assert.equal(third.statusCode, 429);
      assert.equal(third.json().code, 'SERVER_RATE_LIMITED');
      assert.ok(Number(third.headers['retry-after']) >= 1);
      assert.equal((await get('riley')).statusCode, 200, 'another principal has its own bucket');
    } finally {
      await limited.close();
    }
  });

  test('a body over the size limit is refused with 413 SERVER_BODY_TOO_LARGE', async () => {
    const small = await buildServer(fx.app, { logger: false, bodyLimit: 1024 });
    try {
      const res = await small.inject({ method: 'POST', url: '/v1/retrieve', headers: fx.auth('sam'), payload: { query: 'x'.repeat(5000), k: 1 } });
      assert.equal(res.statusCode, 413);
      assert.equal(res.json().code, 'SERVER_BODY_TOO_LARGE');
    } finally {
      await small.close();
    }
  });

  test('a route that outlives its time limit answers 503 SERVER_TIMEOUT', async () => {
    const slow = await buildServer(fx.app, {
      logger: false,
      routeTimeoutMs: 50,
      routes: [
        async (scope) => {
          scope.get('/v1/test-slow', async () => new Promise((resolve) => setTimeout(() => resolve({ late: true }), 300)));
          scope.post('/v1/test-slow', async () => new Promise((resolve) => setTimeout(() => resolve({ late: true }), 300)));
        },
      ],
    });
    try {
      const res = await slow.inject({ method: 'GET', url: '/v1/test-slow', headers: fx.auth('sam') });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().code, 'SERVER_TIMEOUT');
      assert.equal(res.json().details.mayStillComplete, false);
      // A write goes on after its time limit: the answer says so, and names the request id its ledger entries will carry.
      const write = await slow.inject({ method: 'POST', url: '/v1/test-slow', headers: fx.auth('sam'), payload: {} });
      assert.equal(write.statusCode, 503);
      assert.equal(write.json().code, 'SERVER_TIMEOUT');
      assert.equal(write.json().details.mayStillComplete, true);
      assert.equal(write.json().details.requestId, write.json().requestId);
      assert.match(write.json().message, /may still complete/);
    } finally {
      await slow.close();
    }
  });

  test("a disabled principal's key is refused with 401 AUTH_INVALID_KEY, and works again once re-enabled", async () => {
    const riley = fx.app.broker.getPrincipal('riley');
    assert.ok(riley);
    fx.app.broker.upsertPrincipal(riley, { disabled: true });
    try {
      for (const [method, url, body] of [['GET', '/v1/catalog', undefined], ['POST', '/v1/retrieve', { query: 'refund policy', k: 1 }]] as const) {
        const res = await fx.call('riley', method, url, body);
        assert.equal(res.statusCode, 401, url);
        assert.equal(res.json().code, 'AUTH_INVALID_KEY');
      }
    } finally {
      fx.app.broker.upsertPrincipal(riley, { disabled: false });
    }
    assert.equal((await fx.call('riley', 'GET', '/v1/catalog')).statusCode, 200);
  });

  test('GET /health that outlives its time limit answers 503 SERVER_TIMEOUT with the error body', async () => {
    const slow = await buildServer(fx.app, { logger: false, routeTimeoutMs: 1 });
    const chroma = fx.app.chroma as unknown as { heartbeat: () => Promise<unknown> };
    const heartbeat = chroma.heartbeat;
    // A hung part: the health check waits on it longer than the route may take.
    chroma.heartbeat = async () => {
      await new Promise((r) => setTimeout(r, 100));
      return heartbeat.call(chroma);
    };
    try {
      const res = await slow.inject({ method: 'GET', url: '/health' });
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.json().code, 'SERVER_TIMEOUT');
      assert.equal(res.json().requestId, res.headers['x-request-id']);
    } finally {
      chroma.heartbeat = heartbeat;
      await slow.close();
    }
  });

  test("an error keeps its own details.status (a proposal's status), and its HTTP status", async () => {
    const p = await fx.call('desk-agent', 'POST', '/v1/proposals', {
      sessionId,
      action: 'refund.request',
      targetId: 'rf-auth-twice',
      params: { amountCents: 30_000, orderId: 'ord-1002', recipientAccount: ACCOUNT_ON_FILE },
      basis: [bundleId],
    });
    const id = p.json().proposal.id;
    assert.equal((await fx.call('fatima', 'POST', `/v1/proposals/${id}/approve`, {})).statusCode, 200);
    const again = await fx.call('fatima', 'POST', `/v1/proposals/${id}/approve`, {});
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().code, 'BROKER_PROPOSAL_WRONG_STATUS');
    assert.deepEqual(again.json().details, { proposalId: id, status: 'authorized' });
  });

  test('a body of another content type is 415 SERVER_UNSUPPORTED_MEDIA_TYPE, not INVALID_INPUT', async () => {
    for (const contentType of ['application/xml', 'application/x-www-form-urlencoded']) {
      const res = await fx.server.inject({ method: 'POST', url: '/v1/sessions', headers: { ...fx.auth('sam'), 'content-type': contentType }, payload: 'x=1' });
      assert.equal(res.statusCode, 415, contentType);
      assert.deepEqual(res.json(), {
        code: 'SERVER_UNSUPPORTED_MEDIA_TYPE',
        message: `unsupported content type \`${contentType}\`: send json`,
        details: { contentType },
        requestId: res.headers['x-request-id'],
      });
    }
  });

  test('malformed JSON is INVALID_INPUT, and an empty JSON body reads as no body', async () => {
    const bad = await fx.server.inject({ method: 'POST', url: '/v1/sessions', headers: { ...fx.auth('sam'), 'content-type': 'application/json' }, payload: '{"ttlMs":' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'INVALID_INPUT');
    const empty = await fx.server.inject({ method: 'POST', url: '/v1/sessions', headers: { ...fx.auth('sam'), 'content-type': 'application/json' }, payload: '' });
    assert.equal(empty.statusCode, 201, empty.body);
  });
});
