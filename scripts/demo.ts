// `npm run demo`: the whole Writ story against a RUNNING server (`npm start` first), step by
// step: retrieve → propose a small refund → allowed → warrant → execute; a large refund →
// needs approval → a finance approver signs off → warrant → execute; a recipient account
// injected into a ticket note → denied; the audit lineage of the executed refund; the
// ledger verifies. Every step checks its outcome; the script exits 1 when one is wrong.
//
// Usage: node --import tsx scripts/demo.ts [--server URL] [--keys FILE]
//   --server  default $WRIT_SERVER or http://127.0.0.1:8787
//   --keys    the first-start keys file `npm start` wrote (default $WRIT_HOME/first-start-keys.json,
//             else ./.writ/first-start-keys.json); or set WRIT_AGENT_KEY and WRIT_APPROVER_KEY
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

// The accounts on file (the customer records): a person entered them; no document names them.
const ACCOUNT_ON_FILE: Record<string, string> = {
  'ord-1001': 'DE89370400440532014471',
  'ord-1002': 'ES9121000418450200059920',
  'ord-1003': 'FR7630006000011234567891187',
};
const AGENT = 'desk-agent';
const APPROVER = 'fatima';
const PAYOUTS = 'payouts';

type Json = Record<string, any>;

class StepFailed extends Error {}

const { values } = parseArgs({
  options: {
    server: { type: 'string' },
    keys: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write('Usage: npm run demo -- [--server URL] [--keys FILE]\n');
  process.exit(0);
}
const server = (values.server ?? process.env.WRIT_SERVER ?? 'http://127.0.0.1:8787').replace(/\/+$/, '');
const run = Date.now().toString(36);

function loadKeys(): { agent: string; approver: string; payouts: string; source: string } {
  const file = values.keys ?? (process.env.WRIT_HOME ? join(process.env.WRIT_HOME, 'first-start-keys.json') : join('.writ', 'first-start-keys.json'));
  const fromFile: Record<string, string> = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
  const agent = process.env.WRIT_AGENT_KEY ?? fromFile[AGENT];
  const approver = process.env.WRIT_APPROVER_KEY ?? fromFile[APPROVER];
  const payouts = process.env.WRIT_PAYOUTS_KEY ?? fromFile[PAYOUTS];
  if (!agent || !approver || !payouts) {
    throw new StepFailed(
      `no API keys for \`${AGENT}\`, \`${APPROVER}\` and \`${PAYOUTS}\`: pass --keys FILE (the first-start-keys.json \`npm start\` wrote; looked at ${file}) or set WRIT_AGENT_KEY, WRIT_APPROVER_KEY and WRIT_PAYOUTS_KEY`,
    );
  }
  return { agent, approver, payouts, source: process.env.WRIT_AGENT_KEY ? 'environment' : file };
}

// ── output ───────────────────────────────────────────────────────────────────────────────
const out = (line = '') => process.stdout.write(`${line}\n`);
let stepNo = 0;
function step(title: string): void {
  stepNo += 1;
  out();
  out(`${String(stepNo).padStart(2)}. ${title}`);
}
const note = (line: string) => out(`      ${line}`);
function ok(line: string): void {
  out(`    ✓ ${line}`);
}
function expect(condition: unknown, what: string, detail?: unknown): asserts condition {
  if (!condition) throw new StepFailed(`${what}${detail === undefined ? '' : `\n      got: ${JSON.stringify(detail, null, 2).slice(0, 2000)}`}`);
}
const short = (text: string, n = 96) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > n ? `${flat.slice(0, n - 1)}…` : flat;
};

// ── HTTP ─────────────────────────────────────────────────────────────────────────────────
interface Answer {
  status: number;
  body: Json;
}
async function http(method: 'GET' | 'POST', path: string, key: string | null, body?: unknown): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(`${server}${path}`, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new StepFailed(`cannot reach ${server}${path}: ${(err as Error).message} — is the server running (\`npm start\`)?`);
  }
  const text = await res.text();
  let parsed: Json = {};
  try {
    parsed = text === '' ? {} : (JSON.parse(text) as Json);
  } catch {
    parsed = { raw: text.slice(0, 500) };
  }
  return { status: res.status, body: parsed };
}
/** A call that must succeed (2xx). */
async function must(method: 'GET' | 'POST', path: string, key: string | null, body?: unknown): Promise<Json> {
  const answer = await http(method, path, key, body);
  expect(answer.status >= 200 && answer.status < 300, `${method} ${path} answered ${answer.status}`, answer.body);
  return answer.body;
}
/** A call that must fail with this error code. */
async function mustFail(method: 'GET' | 'POST', path: string, key: string | null, body: unknown, code: string): Promise<Json> {
  const answer = await http(method, path, key, body);
  expect(answer.status >= 400 && answer.body.code === code, `${method} ${path} should fail with ${code}, answered ${answer.status}`, answer.body);
  return answer.body;
}

// ── the story ────────────────────────────────────────────────────────────────────────────
function printResults(results: Json[]): void {
  for (const r of results) {
    const s = r.scores ?? {};
    const fmt = (v: unknown) => (typeof v === 'number' ? v.toFixed(3) : '–');
    note(`#${r.rank} ${r.sourceUri.split('/').slice(-2).join('/')}${r.heading ? ` › ${r.heading}` : ''}  fused ${fmt(s.fused)} (dense ${fmt(s.dense)}, lexical ${fmt(s.lexical)})`);
  }
}

async function retrieve(agentKey: string, sessionId: string, query: string, k = 4): Promise<Json> {
  const result = await must('POST', '/v1/retrieve', agentKey, { query, k, sessionId });
  note(`query: "${query}"`);
  printResults(result.results);
  note(`sealed bundle ${result.bundleId} (${result.results.length} chunks, seal ${String(result.seal).slice(0, 19)}…)`);
  return result;
}

function refundParams(order: string, amountCents: number, recipientAccount: string, reason: string): Json {
  return { amountCents, currency: 'EUR', orderId: order, recipientAccount, reason };
}

async function executeWithWarrant(agentKey: string, proposalId: string, targetId: string, expectedState = 'requested'): Promise<Json> {
  const warrant = await must('POST', `/v1/proposals/${proposalId}/warrant`, agentKey);
  expect(typeof warrant.token === 'string' && warrant.payload?.proposalId === proposalId, 'the warrant binds the proposal', warrant);
  ok(`warrant ${warrant.warrantId} issued: Ed25519-signed, single use, expires ${warrant.payload.exp} (key ${warrant.kid})`);
  const executed = await must('POST', '/v1/transitions', agentKey, { warrant: warrant.token });
  const transition = executed.transition ?? executed;
  expect(transition.status === 'executed', 'the transition executed', executed);
  const resource = await must('GET', `/v1/resources/Refund/${targetId}`, agentKey);
  expect(resource.state === expectedState, `Refund ${targetId} is now ${expectedState}`, resource);
  ok(`executed: transition ${transition.id} — Refund ${targetId} ${transition.fromState ?? '∅'} → ${resource.state} (version ${resource.version})`);
  const replay = await mustFail('POST', '/v1/transitions', agentKey, { warrant: warrant.token }, 'BROKER_WARRANT_CONSUMED');
  ok(`replaying the same warrant fails: ${replay.code}`);
  return transition;
}

async function main(): Promise<void> {
  out(`Writ demo against ${server} (run ${run})`);

  step('the server is up');
  const health = await must('GET', '/health', null);
  expect(health.status === 'ok', 'the server reports ok health', health);
  const keys = loadKeys();
  ok(`writ ${health.version}: sqlite ${health.parts?.sqlite?.status}, chroma ${health.parts?.chroma?.status}, model ${health.parts?.model?.id}; keys from ${keys.source}`);

  step(`the agent (${AGENT}) opens a session — one agent run with budgets`);
  const session = await must('POST', '/v1/sessions', keys.agent, { ttlMs: 15 * 60_000 });
  expect(session.actorId === AGENT && session.onBehalfOf === 'sam', `the session belongs to ${AGENT} acting for sam`, session);
  ok(`session ${session.id}: ${session.actorId} on behalf of ${session.onBehalfOf}, budgets ${JSON.stringify(session.budgets)}`);

  // ── small refund ──
  step('retrieve: the agent reads the ticket and the refund policy');
  const small = await retrieve(keys.agent, session.id, 'teapot arrived cracked order ord-1001 refund policy limits', 4);
  expect(small.results.some((r: Json) => r.sourceUri.endsWith('ord-1001.md')), 'the ord-1001 ticket note is among the results', small.results.map((r: Json) => r.sourceUri));
  ok('the ticket note for ord-1001 is in the context; every score explains itself');

  step('propose a small refund: 42.00 EUR for ord-1001, to the account on file, citing the bundle');
  const smallTarget = `rf-demo-${run}-small`;
  const smallProposed = await must('POST', '/v1/proposals', keys.agent, {
    sessionId: session.id,
    action: 'refund.request',
    targetId: smallTarget,
    params: refundParams('ord-1001', 4200, ACCOUNT_ON_FILE['ord-1001']!, 'teapot arrived cracked (photo received)'),
    basis: [small.bundleId],
    rationale: 'damaged in transit; the refund policy lets support refund up to 100 EUR',
    idempotencyKey: `demo-${run}-small`,
  });
  note(`proposal ${smallProposed.proposal.id} (hash ${String(smallProposed.proposal.hash).slice(0, 19)}…)`);
  expect(smallProposed.decision?.outcome === 'allow', 'the small refund is allowed', smallProposed.decision);
  ok(`decision: ALLOW — determined by ${smallProposed.decision.determiningPolicies.join(', ')}`);

  step('warrant → execute the small refund');
  await executeWithWarrant(keys.agent, smallProposed.proposal.id, smallTarget);

  // ── large refund ──
  step('retrieve: the standing-desk ticket');
  const large = await retrieve(keys.agent, session.id, 'standing desk motor fails order ord-1002 refund over 100 EUR finance approval', 4);
  expect(large.results.some((r: Json) => r.sourceUri.endsWith('ord-1002.md')), 'the ord-1002 ticket note is among the results', large.results.map((r: Json) => r.sourceUri));
  ok('the ticket note for ord-1002 is in the context');

  step('propose a large refund: 489.00 EUR for ord-1002');
  const largeTarget = `rf-demo-${run}-large`;
  const largeProposed = await must('POST', '/v1/proposals', keys.agent, {
    sessionId: session.id,
    action: 'refund.request',
    targetId: largeTarget,
    params: refundParams('ord-1002', 48900, ACCOUNT_ON_FILE['ord-1002']!, 'desk motor failed after a week'),
    basis: [large.bundleId],
    rationale: 'defective product; customer prefers a refund',
    idempotencyKey: `demo-${run}-large`,
  });
  const largeId = largeProposed.proposal.id as string;
  expect(largeProposed.decision?.outcome === 'needs_approval', 'the large refund needs an approval', largeProposed.decision);
  const roles = (largeProposed.decision.obligations as Json[]).map((o) => `${o.count ?? 1}× ${o.role}`).join(', ');
  ok(`decision: NEEDS APPROVAL (${roles}) — proposal ${largeId} is ${largeProposed.proposal.status}`);
  const early = await mustFail('POST', `/v1/proposals/${largeId}/warrant`, keys.agent, undefined, 'BROKER_PROPOSAL_WRONG_STATUS');
  ok(`no warrant before the approval: ${early.code}`);
  const agentApproves = await http('POST', `/v1/proposals/${largeId}/approve`, keys.agent, { note: 'looks fine to me' });
  expect(agentApproves.status === 403, 'an agent cannot approve', agentApproves);
  ok(`the agent cannot approve it: ${agentApproves.status} ${agentApproves.body.code}`);

  step(`${APPROVER} (finance) approves`);
  const approved = await must('POST', `/v1/proposals/${largeId}/approve`, keys.approver, { note: 'motor defect confirmed with the supplier' });
  expect(approved.decision?.outcome === 'allow', 'after the approval the decision is allow', approved.decision);
  ok(`approval ${approved.approval.id} by ${approved.approval.approverId} (roles ${approved.approval.roles.join(', ')}); decision: ALLOW`);

  step('warrant → execute the large refund');
  await executeWithWarrant(keys.agent, largeId, largeTarget);

  // ── payout ──
  step(`${APPROVER} (finance) approves the refund for payment`);
  const approveProposed = await must('POST', '/v1/proposals', keys.approver, {
    action: 'refund.approve',
    targetId: largeTarget,
    params: { note: 'defect confirmed; pay to the account on file' },
    idempotencyKey: `demo-${run}-approve`,
  });
  expect(approveProposed.decision?.outcome === 'allow', 'finance may approve a requested refund', approveProposed.decision);
  ok(`decision: ALLOW — determined by ${approveProposed.decision.determiningPolicies.join(', ')}`);
  await executeWithWarrant(keys.approver, approveProposed.proposal.id, largeTarget, 'approved');

  step(`the payout service (${PAYOUTS}) proposes the payout: irreversible, so it waits for finance`);
  const payProposed = await must('POST', '/v1/proposals', keys.payouts, {
    action: 'refund.pay',
    targetId: largeTarget,
    params: { reference: `payout-${run}` },
    idempotencyKey: `demo-${run}-pay`,
  });
  const payId = payProposed.proposal.id as string;
  expect(payProposed.decision?.outcome === 'needs_approval', 'an irreversible payout needs an approval', payProposed.decision);
  ok(`decision: NEEDS APPROVAL (${(payProposed.decision.obligations as Json[]).map((o) => `${o.count ?? 1}× ${o.role}`).join(', ')})`);
  const payApproved = await must('POST', `/v1/proposals/${payId}/approve`, keys.approver, { note: 'payout checked against the order' });
  expect(payApproved.decision?.outcome === 'allow', 'after the approval the payout is allowed', payApproved.decision);
  ok(`approval ${payApproved.approval.id} by ${payApproved.approval.approverId}; decision: ALLOW`);
  const largeTransition = await executeWithWarrant(keys.payouts, payId, largeTarget, 'paid');
  note(`rollback note recorded with the payout: "${short(String(largeTransition.rollbackNote ?? 'see the ledger entry'), 100)}"`);

  // ── prompt injection ──
  step('retrieve: a ticket note with an instruction pasted from an email');
  const injected = await retrieve(keys.agent, session.id, 'wireless headset order ord-1003 refund account', 3);
  const note1003 = (injected.results as Json[]).find((r) => r.sourceUri.endsWith('ord-1003.md'));
  expect(note1003 !== undefined, 'the ord-1003 note is among the results', injected.results.map((r: Json) => r.sourceUri));
  const account = /account[\s>]+([A-Z]{2}\d{2}[A-Z0-9]{10,30})/.exec(note1003.text)?.[1];
  expect(account !== undefined, 'the injected note names an account', note1003.text);
  const quoted = (note1003.text as string).split('\n').filter((l) => l.startsWith('>')).map((l) => l.replace(/^>\s*/, '')).join(' ');
  note(`the note says: "${short(quoted || note1003.text, 150)}"`);
  ok(`the text was shown to the agent as context; it changed nothing (account in it: ${account})`);

  step('propose a refund for ord-1003 to the account copied from the note');
  const injectedProposed = await must('POST', '/v1/proposals', keys.agent, {
    sessionId: session.id,
    action: 'refund.request',
    targetId: `rf-demo-${run}-injected`,
    params: refundParams('ord-1003', 7900, account, 'customer email says pre-approved'),
    basis: [injected.bundleId],
    rationale: 'the note says finance pre-approved it',
  });
  const denied = injectedProposed.decision;
  expect(denied?.outcome === 'deny', 'the proposal with the injected recipient is denied', denied);
  expect((denied.facts?.taint?.trustedParams ?? []).includes('recipientAccount'), 'the taint fact names recipientAccount', denied.facts?.taint);
  ok(`decision: DENY — determined by ${denied.determiningPolicies.join(', ')}`);
  note(`taint: trusted param(s) ${denied.facts.taint.trustedParams.join(', ')} copied from the cited bundle`);
  for (const reason of (denied.reasons as string[]).slice(0, 3)) note(`reason: ${short(reason, 110)}`);
  const noWarrant = await mustFail('POST', `/v1/proposals/${injectedProposed.proposal.id}/warrant`, keys.agent, undefined, 'BROKER_PROPOSAL_WRONG_STATUS');
  ok(`no warrant for a denied proposal: ${noWarrant.code}`);

  // ── audit ──
  step(`audit lineage of the paid refund (as ${APPROVER}, auditor)`);
  const lineage = await must('GET', `/v1/audit/lineage/${largeTransition.id}`, keys.approver);
  const byKind = (lineage.byKind ?? {}) as Record<string, Json[]>;
  const entries = (lineage.entries ?? []) as Json[];
  note(`${entries.length} ledger entries: ${Object.entries(byKind).map(([k, v]) => `${k} ×${v.length}`).join(', ')}`);
  const proposalEntry = byKind['proposal.created']?.find((e) => e.subjectId === largeId);
  expect(proposalEntry !== undefined, 'the lineage holds the proposal', Object.keys(byKind));
  note(`proposal  ${largeId}: ${proposalEntry.body.content.action} ${proposalEntry.body.content.targetId} by ${proposalEntry.body.content.actorId} for ${proposalEntry.body.content.onBehalfOf}`);
  const bundles = byKind['bundle.sealed'] ?? [];
  expect(bundles.some((b) => b.subjectId === large.bundleId), 'the lineage holds the basis bundle', bundles.map((b) => b.subjectId));
  for (const b of bundles) {
    note(`bundle    ${b.subjectId}: "${short(b.body.query, 60)}"`);
    for (const c of b.body.chunks as Json[]) note(`  chunk   ${c.chunkId} ← document ${c.documentId} v${c.documentVersion} (${String(c.contentHash).slice(0, 19)}…)`);
  }
  const documents = [...(byKind['document.ingested'] ?? []), ...(byKind['document.updated'] ?? [])];
  for (const d of documents) note(`document  ${d.subjectId} v${d.body.version ?? '?'}: ${d.body.sourceUri ?? d.body.title ?? ''}`);
  expect(documents.some((d) => String(d.body.sourceUri ?? '').endsWith('ord-1002.md')), 'the lineage reaches the ord-1002 document version', documents.map((d) => d.body));
  // The walk follows refs backward from the transition; decisions and approvals recorded
  // before the final decision ref only the proposal, so they are read with the proposal too.
  const detail = await must('GET', `/v1/proposals/${largeId}`, keys.approver);
  const decisions = new Map<string, Json>();
  for (const d of byKind['decision.made'] ?? []) decisions.set(d.subjectId, { id: d.subjectId, ...d.body, createdAt: d.at, via: 'ledger' });
  for (const d of (detail.decisions ?? []) as Json[]) if (!decisions.has(d.id)) decisions.set(d.id, { ...d, via: 'proposal record' });
  for (const d of [...decisions.values()].sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt)))) {
    note(`decision  ${d.id}: ${d.outcome} by ${(d.determiningPolicies as string[]).join(', ')} (policy set ${String(d.policySetHash).slice(0, 19)}…)${d.via === 'ledger' ? '' : ' [proposal record]'}`);
  }
  const outcomes = [...decisions.values()].map((d) => d.outcome);
  expect(outcomes.includes('allow') && outcomes.includes('needs_approval'), 'the lineage holds both decisions', outcomes);
  const approvals = new Map<string, Json>();
  for (const a of byKind['approval.granted'] ?? []) approvals.set(a.subjectId, { id: a.subjectId, ...a.body, via: 'ledger' });
  for (const a of (detail.approvals ?? []) as Json[]) if (!approvals.has(a.id)) approvals.set(a.id, { ...a, via: 'proposal record' });
  for (const a of approvals.values()) {
    note(`approval  ${a.id}: ${a.approverId} (${(a.roles as string[]).join(', ')}) "${a.note ?? ''}"${a.via === 'ledger' ? '' : ' [proposal record]'}`);
  }
  expect([...approvals.values()].some((a) => a.approverId === APPROVER && a.verdict !== 'rejected'), `the lineage shows ${APPROVER}'s approval`, [...approvals.values()]);
  for (const w of byKind['warrant.issued'] ?? []) note(`warrant   ${w.subjectId}`);
  for (const t of byKind['transition.executed'] ?? []) note(`transition ${t.subjectId}: ${t.body.targetType} ${t.body.targetId} ${t.body.fromState ?? '∅'} → ${t.body.toState}`);
  ok('lineage: transition ← warrant ← decisions (policies) ← approval ← proposal ← bundle ← chunks ← document versions');

  step('audit verify: the hash-chained ledger is intact');
  const verified = await must('GET', '/v1/audit/verify', keys.approver);
  expect(verified.ok === true, 'the ledger verifies', verified);
  expect(verified.checked > 0 && verified.lastChecked !== null, `the verified entries include tenant ${verified.tenant}'s`, verified);
  ok(`ledger ok: the whole chain is intact; ${verified.checked} entries of tenant \`${verified.tenant}\` verified, the newest #${verified.lastChecked.seq}`);

  out();
  out('Demo complete: context informed, authority decided.');
}

main().catch((err: unknown) => {
  out(`    ✗ ${err instanceof StepFailed ? err.message : (err as Error).stack ?? String(err)}`);
  out();
  out(`Demo FAILED at step ${stepNo}.`);
  process.exitCode = 1;
});
