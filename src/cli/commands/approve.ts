// `writ approve PROPOSAL_ID`: a human approver signs off on a pending proposal. The
// approver is the caller (local: `--as`; remote: the key's principal), never a field.
// Exit 0 when the proposal is now authorized, 5 when it still needs more approvals.
import type { ApprovalRecord, DecisionRecord } from '../../broker/index.js';
import { argsOf, noExtraPositionals } from '../args.js';
import { exitCodeOfOutcome, type ExitCode } from '../exit-codes.js';
import { openLocalHome } from '../local-home.js';
import { remoteOf, REMOTE_OPTIONS } from '../remote.js';
import { renderDecision } from '../render.js';
import type { CommandContext, CommandSpec } from '../command.js';

export const approveCommand: CommandSpec = {
  name: 'approve',
  summary: 'approve a pending proposal as a human approver; prints the new decision',
  usage: 'writ approve PROPOSAL_ID [--note TEXT] [--as APPROVER]',
  options: {
    note: { type: 'string', description: 'a note recorded with the approval' },
    as: { type: 'string', description: 'local mode: the approver (a user holding the role the policy names)' },
    ...REMOTE_OPTIONS,
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'approve');
    const id = args.positional(0, 'PROPOSAL_ID');
    noExtraPositionals(ctx, 'approve', 1);
    const note = args.string('note');
    const input = note === undefined ? {} : { note };
    const remote = remoteOf(ctx);
    let answer: { approval: ApprovalRecord; decision: DecisionRecord };
    if (remote !== undefined) {
      answer = await remote.call('POST', `/v1/proposals/${encodeURIComponent(id)}/approve`, input);
    } else {
      const as = args.need('as');
      const home = await openLocalHome(ctx.env);
      try {
        answer = home.broker.approve(home.principal(as), id, input);
      } finally {
        await home.close();
      }
    }
    const { approval, decision } = answer;
    ctx.out.result(answer, [`approved by ${approval.approverId} as ${approval.roles.join(', ') || '(no role)'} (approval ${approval.id}, until ${approval.expiresAt})`, renderDecision(decision)].join('\n'));
    return exitCodeOfOutcome(decision.outcome);
  },
};
