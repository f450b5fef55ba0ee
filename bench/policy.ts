// Policy decision latency, in process, with 100 policies (the sample workspace's 15 plus 85
// generated ones spread over its actions). Scenarios: the engine with its memo off (every
// decision asks Cedar), the engine with its memo on over a stream of varied facts, and a
// naïve baseline (cedar-wasm `isAuthorized` with the whole policy text on every call).
// Writes bench/results/policy.json and the "## Policy decisions" section of BENCHMARKS.md.
// Run: node --import tsx bench/policy.ts [decisions]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { isAuthorized, preparsePolicySet, statefulIsAuthorized, type AuthorizationCall } from '@cedar-policy/cedar-wasm/nodejs';
import type { Facts } from '../src/broker/facts-schema.js';
import { createPolicyEngine, loadPolicies, readPolicyDir, type PolicyEngine, type PolicySource } from '../src/broker/policy/index.js';
import { factsFrom, sampleCatalog, SAMPLE_DIR } from '../test/broker/fixtures/decisions/fixtures.js';
import { writeBenchmarkSection } from './benchmarks-md.js';

const N = Number(process.argv[2] ?? 20_000);
const catalog = sampleCatalog();
const A = 'SupportDesk::Action::';
const ACTIONS = ['refund.request', 'refund.approve', 'refund.reject', 'refund.pay', 'ticket.note'];

/** 85 extra policies shaped like a real workspace's: role grants, amount bands, blocks. */
function generatedPolicies(count: number): PolicySource {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const action = ACTIONS[i % ACTIONS.length] as string;
    const kind = i % 4;
    if (kind === 0) lines.push(`@id("gen.${i}") permit (principal is SupportDesk::User, action == ${A}"${action}", resource) when { principal.roles.contains("team_${i}") };`);
    else if (kind === 1) lines.push(`@id("gen.${i}") forbid (principal, action == ${A}"${action}", resource) when { principal.groups.contains("blocked_${i}") };`);
    else if (kind === 2) lines.push(`@id("gen.${i}") @requires_approval("lead_${i}") permit (principal is SupportDesk::Agent, action == ${A}"${action}", resource) when { principal.roles.contains("bot_${i}") && context has actingFor };`);
    else lines.push(`@id("gen.${i}") forbid (principal, action == ${A}"${action}", resource) when { resource.tenant == "frozen_${i}" || context.basis.count > ${100 + i} };`);
  }
  return { file: 'generated.cedar', text: lines.join('\n') };
}

const sources = [...readPolicyDir(`${SAMPLE_DIR}policies`), generatedPolicies(85)];
const loaded = loadPolicies({ catalog, sources });

/** A mixed stream: agent requests for staff (two sides), finance approvals, payouts (soft forbid), taint denies. */
function factsStream(n: number, seed: number): Facts[] {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  const shapes: Facts[] = [];
  for (let i = 0; i < n; i++) {
    const r = rnd();
    const amount = 1 + Math.floor(rnd() * 30_000);
    if (r < 0.5) shapes.push(factsFrom('refund.request', { onBehalfOf: rnd() < 0.5 ? 'sam' : 'riley', proposal: { params: { amountCents: amount } } }));
    else if (r < 0.7) shapes.push(factsFrom('refund.approve', { target: { attributes: { amountCents: amount } } }));
    else if (r < 0.85) shapes.push(factsFrom('refund.pay', { approvals: rnd() < 0.5 ? { count: 1, roles: ['finance'], approverIds: ['fatima'] } : {} }));
    else if (r < 0.95) shapes.push(factsFrom('refund.request', { taint: { params: ['recipientAccount'], trustedParams: ['recipientAccount'], anyTrusted: true } }));
    else shapes.push(factsFrom('ticket.note', {}));
  }
  return shapes;
}

interface Stats {
  decisions: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  meanUs: number;
  /** CPU time this process spent per decision: less sensitive than wall time to other load on the machine. */
  cpuMeanUs: number;
}

function measure(run: (i: number) => void, n: number, warmup = Math.min(5000, n)): Stats {
  for (let i = 0; i < warmup; i++) run(i);
  const samples = new Float64Array(n);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    run(i);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const cpu = process.cpuUsage(cpu0);
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 10) / 10;
  const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
  return { decisions: n, p50Us: at(0.5), p90Us: at(0.9), p99Us: at(0.99), meanUs: Math.round(mean * 10) / 10, cpuMeanUs: Math.round(((cpu.user + cpu.system) / n) * 10) / 10 };
}

/** Machine calibration: the cost of one pre-parsed Cedar call with an empty request. */
preparsePolicySet('bench:floor', { staticPolicies: { floor: 'permit (principal, action, resource);' } });
const floorCall = { principal: { type: 'U', id: 'u' }, action: { type: 'Action', id: 'a' }, resource: { type: 'R', id: 'r' }, context: {}, entities: [], preparsedPolicySetId: 'bench:floor' };
const calibrate = () => measure(() => statefulIsAuthorized(floorCall), 2000, 200);

const stream = factsStream(N, 42);
const floorBefore = calibrate();
const results: Record<string, unknown> = {
  policies: loaded.policies.length,
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  at: new Date().toISOString(),
};

{
  const engine = createPolicyEngine({ catalog, policies: loaded, cacheSize: 0 });
  results['engineNoMemo'] = measure((i) => engine.decide(stream[i % stream.length] as Facts), N);
}
{
  const engine: PolicyEngine = createPolicyEngine({ catalog, policies: loaded });
  const fresh = factsStream(N, 7);
  results['engineMemoVariedFacts'] = measure((i) => engine.decide(fresh[i % fresh.length] as Facts), N);
  const { cedarCalls, memoHits } = engine.stats();
  results['memoHitRate'] = Math.round((memoHits / Math.max(1, cedarCalls + memoHits)) * 1000) / 1000;
}
{
  // A harder stream for the memo: every decision by a different agent for a different user
  // (the sample's separation-of-duties policy reads `principal.id`, so ids reach the key).
  const engine: PolicyEngine = createPolicyEngine({ catalog, policies: loaded });
  const many = factsStream(N, 11).map((f, i) => ({
    ...f,
    actor: { ...f.actor, id: `${f.actor.kind}-${i}` },
    onBehalfOf: f.onBehalfOf === null ? null : { ...f.onBehalfOf, id: `user-${i}` },
  }));
  results['engineMemoDistinctPrincipals'] = measure((i) => engine.decide(many[i % many.length] as Facts), N, 0);
  const { cedarCalls, memoHits } = engine.stats();
  results['memoHitRateDistinctPrincipals'] = Math.round((memoHits / Math.max(1, cedarCalls + memoHits)) * 1000) / 1000;
}
{
  // The one-sided, no-delegation case: a finance user approving (one Cedar call).
  const engine = createPolicyEngine({ catalog, policies: loaded, cacheSize: 0 });
  const approvals = factsStream(N, 3).filter((f) => f.proposal.action === 'refund.approve');
  results['engineNoMemoSingleSide'] = measure((i) => engine.decide(approvals[i % approvals.length] as Facts), Math.min(N, 5000));
}
{
  const text = loaded.policies.map((p) => p.text).join('\n');
  const facts = factsFrom('refund.approve', {});
  const call: AuthorizationCall = {
    principal: { type: 'SupportDesk::User', id: 'fatima' },
    action: { type: 'SupportDesk::Action', id: 'refund.approve' },
    resource: { type: 'SupportDesk::Refund', id: facts.proposal.targetId },
    context: {
      params: { note: 'x' },
      taint: { anyTrusted: false, trustedParams: [], params: [] },
      basis: { count: 0, allExist: true, allOwned: true, allSameSession: true, allFresh: true },
      approvals: { count: 0, roles: [], approverIds: [] },
      transition: { legal: true, from: 'requested', to: 'approved', effect: 'internal' },
      isActor: true,
    },
    entities: [
      { uid: { type: 'SupportDesk::User', id: 'fatima' }, attrs: { id: 'fatima', kind: 'user', tenant: 'acme', roles: ['finance'], groups: ['finance', 'support'] }, parents: [] },
      { uid: { type: 'SupportDesk::Refund', id: facts.proposal.targetId }, attrs: { tenant: 'acme', state: 'requested', version: 1, amountCents: 4500, currency: 'EUR', orderId: 'ord-991', recipientAccount: 'DE89370400440532013000' }, parents: [] },
    ],
    policies: { staticPolicies: text },
  };
  results['naiveCedarSingleCall'] = measure(() => isAuthorized(call), Math.min(N, 1000), 100);
}

const floorAfter = calibrate();
results['cedarFloorP50Us'] = { before: floorBefore.p50Us, after: floorAfter.p50Us };
results['loadAverage1mAfter'] = Math.round((loadavg()[0] ?? 0) * 100) / 100;

mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/policy.json', `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));

const row = (name: string, s: Stats) => `| ${name} | ${s.decisions} | ${s.p50Us} | ${s.p90Us} | ${s.p99Us} | ${s.meanUs} | ${s.cpuMeanUs} |`;
const section = [
  '## Policy decisions',
  '',
  `In-process \`PolicyEngine.decide\` with ${loaded.policies.length} policies (sample workspace + generated), ` +
    `${results['cores']} cores (${results['cpu']}), Node ${process.version}, load average ${results['loadAverage1m']} → ${results['loadAverage1mAfter']} (a shared machine). ` +
    'Mixed stream: 50% agent refund requests for staff (decided for both sides: two Cedar calls), 20% finance approvals, 15% payouts ' +
    '(a softened forbid), 10% tainted requests, 5% notes. Target: p50 ≤ 100 µs, p99 ≤ 500 µs.',
  '',
  '| scenario | decisions | p50 µs | p90 µs | p99 µs | mean µs | CPU µs/decision |',
  '|---|---|---|---|---|---|---|',
  row('engine, memo off (every decision asks Cedar)', results['engineNoMemo'] as Stats),
  row(`engine, memo on, varied facts (memo hit rate ${results['memoHitRate']})`, results['engineMemoVariedFacts'] as Stats),
  row(`engine, memo on, a new agent and user every decision (memo hit rate ${results['memoHitRateDistinctPrincipals']})`, results['engineMemoDistinctPrincipals'] as Stats),
  row('engine, memo off, one side (finance approval)', results['engineNoMemoSingleSide'] as Stats),
  row('naïve cedar-wasm `isAuthorized`, full policy text per call', results['naiveCedarSingleCall'] as Stats),
  '',
  '',
  `Machine calibration (p50, before/after): one pre-parsed cedar-wasm call with an empty request ${floorBefore.p50Us}/${floorAfter.p50Us} µs — ` +
    'the floor under every memo miss (one per side of a decision); compare it with a quiet machine before comparing the figures.',
  '',
  'Command: `node --import tsx bench/policy.ts` (figures in `bench/results/policy.json`).',
  '',
].join('\n');

writeBenchmarkSection('## Policy decisions', section);
