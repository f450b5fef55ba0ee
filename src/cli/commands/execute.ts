// `writ execute PROPOSAL_ID | --warrant TOKEN`: the only way state changes. Given a
// proposal id, it first has the broker issue a warrant for it (allowed proposals only),
// then executes the warrant: verify, check the target, apply, consume, record.
import { WritError } from '../../core/index.js';
import { BrokerErrors, type DecisionRecord, type ProposalRecord, type TransitionResult } from '../../broker/index.js';
import { argsOf, noExtraPositionals } from '../args.js';
import { CliErrors } from '../errors.js';
import { EXIT, exitCodeOfOutcome, type ExitCode } from '../exit-codes.js';
import { openLocalHome } from '../local-home.js';
import { remoteOf, REMOTE_OPTIONS } from '../remote.js';
import { renderDecision } from '../render.js';
import type { CommandContext, CommandSpec } from '../command.js';

function renderTransition(r: TransitionResult): string {
  const t = r.transition;
  return [
    `${t.status === 'started' ? 'started' : 'executed'} ${t.action} on ${t.resourceType} ${t.resourceId}: ${t.fromState ?? '(new)'} → ${t.toState}` +
      `${t.toVersion !== null ? ` (version ${t.toVersion})` : ''} [${t.effect}]`,
    `  transition: ${t.id}`,
    `  warrant:    ${t.warrantId}`,
    `  proposal:   ${t.proposalId} (now ${r.proposal.status})`,
    ...(t.status === 'started' ? ['  external effect in flight: report its outcome to POST /v1/transitions/report'] : []),
  ].join('\n');
}

/** A proposal that cannot get a warrant yet: says why, with the exit code. */
function notAuthorized(ctx: CommandContext, proposal: ProposalRecord, decision: DecisionRecord | undefined): ExitCode | undefined {
  if (proposal.status !== 'pending_approval' && proposal.status !== 'denied') return undefined;
  const outcome = proposal.status === 'denied' ? 'deny' : 'needs_approval';
  const human = decision !== undefined ? renderDecision(decision, proposal) : `proposal ${proposal.id} is ${proposal.status}`;
  ctx.out.result({ proposal, decision: decision ?? null, executed: false }, `${human}\nnot executed: ${outcome === 'deny' ? 'the proposal was denied' : 'it waits for an approval (`writ approve`)'}`);
  return exitCodeOfOutcome(outcome);
}

export const executeCommand: CommandSpec = {
  name: 'execute',
  summary: 'execute an allowed proposal (issues its warrant first) or a given warrant',
  usage: 'writ execute PROPOSAL_ID [--as PRINCIPAL] | writ execute --warrant TOKEN',
  options: {
    warrant: { type: 'string', description: 'execute this warrant token instead of issuing one' },
    as: { type: 'string', description: 'local mode: who asks for the warrant and executes (default: the proposal\'s actor)' },
    ...REMOTE_OPTIONS,
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'execute');
    noExtraPositionals(ctx, 'execute', 1);
    const token = args.string('warrant');
    const proposalId = ctx.positionals[0];
    if ((token === undefined) === (proposalId === undefined)) {
      throw new WritError(CliErrors.CLI_USAGE, 'give either a PROPOSAL_ID or `--warrant TOKEN`: run `writ execute --help`');
    }
    const remote = remoteOf(ctx);
    let result: TransitionResult;
    if (remote !== undefined) {
      let warrant = token;
      if (warrant === undefined) {
        const id = encodeURIComponent(proposalId as string);
        const shown = await remote.call<{ proposal: ProposalRecord; decision: DecisionRecord | null }>('GET', `/v1/proposals/${id}`);
        const blocked = notAuthorized(ctx, shown.proposal, shown.decision ?? undefined);
        if (blocked !== undefined) return blocked;
        warrant = (await remote.call<{ token: string }>('POST', `/v1/proposals/${id}/warrant`, {})).token;
      }
      result = await remote.call<TransitionResult>('POST', '/v1/transitions', { warrant });
    } else {
      const home = await openLocalHome(ctx.env);
      try {
        const as = args.string('as');
        let warrant = token;
        if (warrant === undefined) {
          const proposal = home.broker.getProposal(proposalId as string);
          if (proposal === undefined) throw new WritError(BrokerErrors.BROKER_PROPOSAL_NOT_FOUND, `proposal \`${proposalId}\` does not exist`, { details: { proposalId } });
          const blocked = notAuthorized(ctx, proposal, proposal.decisionId ? home.broker.getDecision(proposal.decisionId) : undefined);
          if (blocked !== undefined) return blocked;
          warrant = home.broker.issueWarrant(home.principal(as ?? proposal.actorId), proposal.id).token;
        }
        result = home.broker.execute(warrant, as !== undefined ? { caller: home.principal(as) } : {});
      } finally {
        await home.close();
      }
    }
    ctx.out.result(result, renderTransition(result));
    return EXIT.OK;
  },
};
