// `writ propose`: proposes a transition and prints the broker's decision. Exit 0 when
// allowed, 3 when denied, 5 when it needs an approval. `--param k=v` values are typed by
// the catalog (integer, boolean…); `k:=JSON` passes a raw JSON value.
import { WritError } from '../../core/index.js';
import type { Catalog, DecisionRecord, ParamValue, ProposalRecord } from '../../broker/index.js';
import { argsOf, noExtraPositionals } from '../args.js';
import { CliErrors } from '../errors.js';
import { exitCodeOfOutcome, type ExitCode } from '../exit-codes.js';
import { openLocalHome } from '../local-home.js';
import { remoteOf, REMOTE_OPTIONS } from '../remote.js';
import { renderDecision } from '../render.js';
import type { CommandContext, CommandSpec } from '../command.js';

/**
 * Parses `k=v` / `k:=JSON` pairs; `v` is typed by the action's param spec in `catalog` when
 * it parses as that type, else left a string so the broker reports the mismatch.
 */
export function parseParams(pairs: readonly string[], action: string, catalog: Pick<Catalog, 'actions'> | undefined): Record<string, ParamValue> {
  const specs = catalog?.actions[action]?.params ?? {};
  const params: Record<string, ParamValue> = {};
  for (const pair of pairs) {
    const raw = /^([^=:]+):=(.*)$/s.exec(pair);
    if (raw !== null) {
      try {
        params[raw[1] as string] = JSON.parse(raw[2] as string) as ParamValue;
      } catch {
        throw new WritError(CliErrors.CLI_USAGE, `\`--param ${pair}\`: the value after \`:=\` must be JSON`);
      }
      continue;
    }
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new WritError(CliErrors.CLI_USAGE, `\`--param ${pair}\` must read \`name=value\` (or \`name:=JSON\`)`);
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    const type = specs[name]?.type;
    if (type === 'integer' && /^-?\d+$/.test(value)) params[name] = Number(value);
    else if (type === 'boolean' && (value === 'true' || value === 'false')) params[name] = value === 'true';
    else params[name] = value;
  }
  return params;
}

export const proposeCommand: CommandSpec = {
  name: 'propose',
  summary: 'propose a transition and print the decision (exit 0 allow, 3 deny, 5 needs approval)',
  usage: 'writ propose --action A --target ID [--param k=v]… [--basis BUNDLE_ID]… [--session S] [--idempotency-key K] [--as PRINCIPAL]',
  options: {
    action: { type: 'string', description: 'the catalog action, e.g. `refund.request`' },
    target: { type: 'string', description: 'id of the target resource (new or existing)' },
    param: { type: 'string', multiple: true, description: 'a parameter `name=value` (typed by the catalog) or `name:=JSON`; repeat' },
    basis: { type: 'string', multiple: true, description: 'a bundle id that informed the proposal; repeat or comma-separate' },
    session: { type: 'string', description: 'the session proposing (agents need one)' },
    rationale: { type: 'string', description: 'why, in a sentence (recorded)' },
    'idempotency-key': { type: 'string', description: 'the same key and content returns the same proposal' },
    as: { type: 'string', description: 'local mode: the principal proposing (operator tool)' },
    ...REMOTE_OPTIONS,
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'propose');
    noExtraPositionals(ctx, 'propose', 0);
    const action = args.need('action');
    const targetId = args.need('target');
    const pairs = ((ctx.values.param as string[] | undefined) ?? []).map(String); // not comma-split: values may hold commas
    const base = {
      action,
      targetId,
      basis: args.list('basis'),
      ...(args.string('session') ? { sessionId: args.string('session') } : {}),
      ...(args.string('rationale') ? { rationale: args.string('rationale') } : {}),
      ...(args.string('idempotency-key') ? { idempotencyKey: args.string('idempotency-key') } : {}),
    };
    const remote = remoteOf(ctx);
    let proposal: ProposalRecord;
    let decision: DecisionRecord;
    if (remote !== undefined) {
      const catalog = await remote.call<Catalog>('GET', '/v1/catalog').catch(() => undefined);
      ({ proposal, decision } = await remote.call<{ proposal: ProposalRecord; decision: DecisionRecord }>('POST', '/v1/proposals', {
        ...base,
        params: parseParams(pairs, action, catalog),
      }));
    } else {
      const as = args.need('as');
      const home = await openLocalHome(ctx.env);
      try {
        const caller = home.principal(as);
        // One transaction; an idempotent replay of a decided proposal returns its decision as it stands.
        const result = home.broker.proposeAndDecide(caller, { ...base, params: parseParams(pairs, action, home.catalog) });
        // Never decided and no longer open (voided with its session): decide says why, typed.
        decision = result.decision ?? home.broker.decide(result.proposal.id);
        proposal = result.proposal;
      } finally {
        await home.close();
      }
    }
    ctx.out.result({ proposal, decision }, renderDecision(decision, proposal));
    return exitCodeOfOutcome(decision.outcome);
  },
};
