// `writ decide PROPOSAL_ID`: asks the broker to decide a proposal again (facts are
// recomputed now) and prints the decision. Exit 0 allow, 3 deny, 5 needs approval.
import { WritError } from '../../core/index.js';
import { BrokerErrors, type DecisionRecord, type ProposalRecord } from '../../broker/index.js';
import { argsOf, noExtraPositionals } from '../args.js';
import { exitCodeOfOutcome, type ExitCode } from '../exit-codes.js';
import { openLocalHome } from '../local-home.js';
import { remoteOf, REMOTE_OPTIONS } from '../remote.js';
import { renderDecision } from '../render.js';
import type { CommandContext, CommandSpec } from '../command.js';

export const decideCommand: CommandSpec = {
  name: 'decide',
  summary: 'decide a proposal again with the facts as they are now; prints the decision',
  usage: 'writ decide PROPOSAL_ID',
  options: { ...REMOTE_OPTIONS },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'decide');
    const id = args.positional(0, 'PROPOSAL_ID');
    noExtraPositionals(ctx, 'decide', 1);
    const remote = remoteOf(ctx);
    let decision: DecisionRecord;
    let proposal: ProposalRecord | undefined;
    if (remote !== undefined) {
      const answer = await remote.call<DecisionRecord | { decision: DecisionRecord; proposal?: ProposalRecord }>('POST', `/v1/proposals/${encodeURIComponent(id)}/decide`, {});
      decision = 'decision' in answer ? answer.decision : answer;
      proposal = 'decision' in answer ? answer.proposal : undefined;
    } else {
      const home = await openLocalHome(ctx.env);
      try {
        if (home.broker.getProposal(id) === undefined) throw new WritError(BrokerErrors.BROKER_PROPOSAL_NOT_FOUND, `proposal \`${id}\` does not exist`, { details: { proposalId: id } });
        decision = home.broker.decide(id);
        proposal = home.broker.getProposal(id);
      } finally {
        await home.close();
      }
    }
    ctx.out.result(proposal === undefined ? { decision } : { proposal, decision }, renderDecision(decision, proposal));
    return exitCodeOfOutcome(decision.outcome);
  },
};
