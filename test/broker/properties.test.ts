// Property: no random sequence of broker calls (good and bad inputs, any order) changes
// resource state without a valid warrant, and no proposal ever makes an illegal move.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isWritError } from '../../src/core/index.js';
import { canMove, splitWarrant, type ProposalStatus } from '../../src/broker/index.js';
import { createHarness, refundParams, type Harness } from './helpers.js';

type Op =
  | { kind: 'session'; actor: string }
  | { kind: 'propose'; actor: string; session: number; action: string; target: string; params: Record<string, unknown> }
  | { kind: 'decide'; proposal: number }
  | { kind: 'approve'; approver: string; proposal: number }
  | { kind: 'reject'; approver: string; proposal: number }
  | { kind: 'issue'; caller: string; proposal: number }
  | { kind: 'execute'; token: number; tamper: 'none' | 'flip' | 'junk' | 'resign' }
  | { kind: 'revoke'; session: number }
  | { kind: 'time'; ms: number }
  /** A well-formed proposal by the right user: with decide, issue and execute it makes executions likely. */
  | { kind: 'good'; action: 'refund.request' | 'refund.reject' | 'refund.approve'; target: string; amount: number };

const PRINCIPALS = ['sam', 'riley', 'fatima', 'omar', 'desk-agent', 'finance-bot', 'payments', 'globex-agent'];
const TARGETS = ['rf-p0', 'rf-p1', 'rf-p2', 'tn-p0'];
const ACTIONS = ['refund.request', 'refund.approve', 'refund.reject', 'refund.pay', 'ticket.note', 'refund.nope'];

const paramsArb = fc.oneof(
  fc.integer({ min: -5, max: 200_000 }).map((amount) => refundParams(amount)),
  fc.constant({ reason: 'duplicate' }),
  fc.constant({ ticketId: 't-1', body: 'note' }),
  fc.constant({}),
  fc.dictionary(fc.constantFrom('amountCents', 'orderId', 'x', 'reason'), fc.oneof(fc.string(), fc.integer(), fc.boolean())),
);

const singleArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('session' as const), actor: fc.constantFrom('desk-agent', 'finance-bot', 'sam') }),
  fc.record({
    kind: fc.constant('propose' as const),
    actor: fc.constantFrom(...PRINCIPALS),
    session: fc.integer({ min: -1, max: 5 }),
    action: fc.constantFrom(...ACTIONS),
    target: fc.constantFrom(...TARGETS),
    params: paramsArb,
  }),
  fc.record({ kind: fc.constant('decide' as const), proposal: fc.integer({ min: -1, max: 20 }) }),
  fc.record({ kind: fc.constant('approve' as const), approver: fc.constantFrom(...PRINCIPALS), proposal: fc.integer({ min: -1, max: 20 }) }),
  fc.record({ kind: fc.constant('reject' as const), approver: fc.constantFrom(...PRINCIPALS), proposal: fc.integer({ min: -1, max: 20 }) }),
  fc.record({ kind: fc.constant('issue' as const), caller: fc.constantFrom(...PRINCIPALS), proposal: fc.integer({ min: -1, max: 20 }) }),
  fc.record({ kind: fc.constant('execute' as const), token: fc.integer({ min: -1, max: 10 }), tamper: fc.constantFrom('none' as const, 'none' as const, 'flip' as const, 'junk' as const, 'resign' as const) }),
  fc.record({ kind: fc.constant('revoke' as const), session: fc.nat(5) }),
  fc.record({ kind: fc.constant('time' as const), ms: fc.constantFrom(1000, 60_000, 400_000) }),
);

/** The happy path, step by step (each step checked on its own), sometimes cut short. */
const flowArb: fc.Arbitrary<Op[]> = fc
  .record({
    action: fc.constantFrom('refund.request' as const, 'refund.request' as const, 'refund.reject' as const, 'refund.approve' as const),
    target: fc.constantFrom(...TARGETS),
    amount: fc.constantFrom(500, 500, 50_000),
    steps: fc.integer({ min: 1, max: 4 }),
  })
  .map(({ action, target, amount, steps }) =>
    (
      [
        { kind: 'good', action, target, amount },
        { kind: 'decide', proposal: -1 },
        { kind: 'issue', caller: action === 'refund.approve' ? 'fatima' : 'sam', proposal: -1 },
        { kind: 'execute', token: -1, tamper: 'none' },
      ] as Op[]
    ).slice(0, steps === 4 ? 4 : Math.max(steps, 3)),
  );

const opsArb: fc.Arbitrary<Op[]> = fc
  .array(fc.oneof({ weight: 2, arbitrary: singleArb.map((op) => [op]) }, { weight: 3, arbitrary: flowArb }), { minLength: 1, maxLength: 15 })
  .map((groups) => groups.flat());

describe('broker properties', () => {
  let h: Harness;
  before(() => {
    h = createHarness();
  });
  after(() => h.close());

  test('no call sequence changes state without a valid warrant, and no proposal makes an illegal move', () => {
    const resources = () =>
      new Map(
        (h.store.db.prepare('SELECT type, id, state, version, attributes_json FROM resources').all() as Array<Record<string, unknown>>).map((r) => [
          `${r.type}/${r.id}`,
          JSON.stringify(r),
        ]),
      );
    const statuses = () =>
      new Map((h.store.db.prepare('SELECT id, status FROM proposals').all() as Array<{ id: string; status: ProposalStatus }>).map((r) => [r.id, r.status]));
    const executedTokens = new Set<string>();
    let run = 0;
    const codes = new Map<string, number>();

    fc.assert(
      fc.property(opsArb, (ops) => {
        run++;
        const sessions: string[] = [];
        const proposals: string[] = [];
        const tokens: string[] = [];
        const pick = <T,>(list: T[], i: number): T | undefined => (i < 0 ? list[list.length - 1] : list[i % Math.max(1, list.length)]);
        for (const op of ops) {
          const beforeResources = resources();
          const beforeStatuses = statuses();
          let executedToken: string | null = null;
          let threw = false;
          try {
            switch (op.kind) {
              case 'session':
                sessions.push(h.broker.createSession(h.p[op.actor]!, { ttlMs: 3_600_000 }).id);
                break;
              case 'propose':
                proposals.push(
                  h.broker.propose(h.p[op.actor]!, {
                    ...(op.session >= 0 && sessions[op.session] ? { sessionId: sessions[op.session] } : {}),
                    action: op.action,
                    targetId: `${op.target}-${run}`,
                    params: op.params,
                  }).id,
                );
                break;
              case 'decide':
                h.broker.decide(pick(proposals, op.proposal) ?? 'prp_none');
                break;
              case 'approve':
                h.broker.approve(h.p[op.approver]!, pick(proposals, op.proposal) ?? 'prp_none');
                break;
              case 'reject':
                h.broker.reject(h.p[op.approver]!, pick(proposals, op.proposal) ?? 'prp_none', 'no');
                break;
              case 'issue':
                tokens.push(h.broker.issueWarrant(h.p[op.caller]!, pick(proposals, op.proposal) ?? 'prp_none').token);
                break;
              case 'execute': {
                const genuine = pick(tokens, op.token) ?? 'x.y.z';
                let token = genuine;
                if (op.tamper === 'flip') token = genuine.replace(/^(.{5})(.)/, (_m, a: string, c: string) => a + (c === 'A' ? 'B' : 'A'));
                if (op.tamper === 'junk') token = `${genuine}x`;
                if (op.tamper === 'resign' && genuine.includes('.')) {
                  const { payloadB64 } = splitWarrant(genuine);
                  const mutated = Buffer.from(Buffer.from(payloadB64, 'base64url').toString().replace('"expectedVersion":', '"expectedVersion":1')).toString('base64url');
                  token = `${mutated}.${splitWarrant(genuine).kid}.${splitWarrant(genuine).signature}`;
                }
                h.broker.execute(token);
                executedToken = token;
                break;
              }
              case 'revoke':
                if (sessions[op.session]) h.broker.revokeSession(h.p['sam']!, sessions[op.session]!);
                break;
              case 'good': {
                const user = op.action === 'refund.approve' ? 'fatima' : 'sam';
                const params = op.action === 'refund.request' ? refundParams(op.amount) : op.action === 'refund.reject' ? { reason: 'dup' } : {};
                proposals.push(h.broker.propose(h.p[user]!, { action: op.action, targetId: `${op.target}-${run}`, params }).id);
                break;
              }
              case 'time':
                h.clock.advance(op.ms);
                break;
            }
          } catch (err) {
            if (!isWritError(err)) throw err;
            threw = true;
            codes.set(`${op.kind}:${err.code}`, (codes.get(`${op.kind}:${err.code}`) ?? 0) + 1);
          }
          if (!threw) codes.set(`${op.kind}:ok`, (codes.get(`${op.kind}:ok`) ?? 0) + 1);
          const afterResources = resources();
          const changed = [...new Set([...beforeResources.keys(), ...afterResources.keys()])].filter((k) => beforeResources.get(k) !== afterResources.get(k));
          if (changed.length > 0) {
            // INVARIANT under test: only a successful execute of a genuine, never-used warrant changes state, and only its target.
            assert.equal(threw, false);
            assert.ok(executedToken !== null, `state changed by \`${op.kind}\``);
            assert.ok(tokens.includes(executedToken), 'state changed by a token the broker did not issue');
            assert.ok(!executedTokens.has(executedToken), 'a warrant changed state twice');
            executedTokens.add(executedToken);
            const { targetType, targetId } = JSON.parse(Buffer.from(splitWarrant(executedToken).payloadB64, 'base64url').toString());
            assert.deepEqual(changed, [`${targetType}/${targetId}`]);
          }
          const afterStatuses = statuses();
          for (const [id, status] of afterStatuses) {
            const was = beforeStatuses.get(id);
            if (was === undefined) assert.ok(status === 'proposed' || canMove('proposed', status), `new proposal at ${status}`);
            else if (was !== status) assert.ok(canMove(was, status), `illegal move ${was} → ${status}`);
          }
        }
      }),
      { numRuns: 60, seed: Number(process.env.FC_SEED ?? 20261126) },
    );
    const executed = h.store.db.prepare('SELECT count(*) AS n FROM transitions').get() as { n: number };
    assert.ok(executed.n > 0, 'the generated sequences never executed anything: the property would be vacuous');
    if (process.env.FC_VERBOSE) console.log([...codes].sort(), 'transitions', executed.n, 'proposals', (h.store.db.prepare('SELECT count(*) AS n FROM proposals').get() as { n: number }).n);
  });
});
