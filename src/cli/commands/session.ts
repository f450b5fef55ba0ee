// `writ session create|show|end|revoke`: an agent run with a time limit and budgets.
// Ending or revoking a session voids its pending proposals and unused warrants.
import { WritError, type Principal } from '../../core/index.js';
import { BrokerErrors, type SessionCloseResult, type SessionRecord } from '../../broker/index.js';
import { argsOf, noExtraPositionals } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { openLocalHome } from '../local-home.js';
import { remoteOf, REMOTE_OPTIONS } from '../remote.js';
import type { CommandContext, CommandSpec } from '../command.js';

function renderSession(s: SessionRecord): string {
  return [
    `session ${s.id} (${s.status})`,
    `  actor:       ${s.actorId}${s.onBehalfOf ? ` on behalf of ${s.onBehalfOf}` : ''} (tenant ${s.tenant})`,
    `  expires:     ${s.expiresAt}${s.closedAt ? `; closed ${s.closedAt}${s.closeReason ? ` (${s.closeReason})` : ''}` : ''}`,
    `  retrievals:  ${s.used.retrievals}/${s.budgets.retrievals}   proposals: ${s.used.proposals}/${s.budgets.proposals}   context chars: ${s.used.contextChars}/${s.budgets.contextChars}`,
  ].join('\n');
}

export const sessionCommand: CommandSpec = {
  name: 'session',
  summary: 'create, show, end or revoke an agent session',
  usage: 'writ session create --as AGENT [--on-behalf-of P] [--ttl MS] | session show|end|revoke SESSION_ID [--reason R] [--as P]',
  options: {
    as: { type: 'string', description: 'local mode: the principal acting (create: the session\'s actor; end/revoke: who closes it)' },
    'on-behalf-of': { type: 'string', description: 'create: the principal the actor works for (default: the agent\'s registered one)' },
    ttl: { type: 'string', description: 'create: lifetime in ms (default 3600000)' },
    'max-retrievals': { type: 'string', description: 'create: retrieval budget' },
    'max-proposals': { type: 'string', description: 'create: proposal budget' },
    reason: { type: 'string', description: 'end/revoke: why (recorded)' },
    ...REMOTE_OPTIONS,
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'session');
    const sub = args.sub(['create', 'show', 'end', 'revoke'] as const);
    noExtraPositionals(ctx, 'session', sub === 'create' ? 1 : 2);
    const id = sub === 'create' ? '' : args.positional(1, 'SESSION_ID');
    const budgets = {
      ...(args.int('max-retrievals', { min: 0 }) !== undefined ? { retrievals: args.int('max-retrievals') } : {}),
      ...(args.int('max-proposals', { min: 0 }) !== undefined ? { proposals: args.int('max-proposals') } : {}),
    };
    const createInput = {
      ttlMs: args.int('ttl', { min: 1 }) ?? 3_600_000,
      ...(args.string('on-behalf-of') ? { onBehalfOf: args.string('on-behalf-of') } : {}),
      ...(Object.keys(budgets).length > 0 ? { budgets } : {}),
    };
    const reason = args.string('reason');
    const remote = remoteOf(ctx);
    let session: SessionRecord;
    let closed: Partial<SessionCloseResult> | undefined;
    if (remote !== undefined) {
      if (sub === 'create') session = await remote.call<SessionRecord>('POST', '/v1/sessions', createInput);
      else if (sub === 'show') session = await remote.call<SessionRecord>('GET', `/v1/sessions/${encodeURIComponent(id)}`);
      else {
        const answer = await remote.call<SessionRecord | SessionCloseResult>('POST', `/v1/sessions/${encodeURIComponent(id)}/${sub}`, reason ? { reason } : {});
        closed = 'session' in answer ? answer : { session: answer };
        session = closed.session as SessionRecord;
      }
    } else {
      const home = await openLocalHome(ctx.env);
      try {
        const caller = (): Principal => home.principal(args.need('as'));
        if (sub === 'create') session = home.broker.createSession(caller(), createInput);
        else if (sub === 'show') {
          const found = home.broker.getSession(id);
          if (found === undefined) throw new WritError(BrokerErrors.BROKER_SESSION_NOT_FOUND, `session \`${id}\` does not exist`, { details: { sessionId: id } });
          session = found;
        } else {
          const close = sub === 'end' ? home.broker.endSession : home.broker.revokeSession;
          closed = close(caller(), id, reason ? { reason } : {});
          session = closed.session as SessionRecord;
        }
      } finally {
        await home.close();
      }
    }
    if (closed !== undefined) {
      const voided = [...(closed.voidedProposals ?? []).map((p) => `proposal ${p}`), ...(closed.voidedWarrants ?? []).map((w) => `warrant ${w}`)];
      ctx.out.result(closed, `${renderSession(session)}${voided.length > 0 ? `\n  voided:      ${voided.join(', ')}` : ''}`);
    } else {
      ctx.out.result(session, sub === 'create' ? `${renderSession(session)}\nuse it with \`--session ${session.id}\`` : renderSession(session));
    }
    return EXIT.OK;
  },
};
