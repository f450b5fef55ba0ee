// `writ keys create|list|revoke`: API keys bound to a principal (local home only — the
// key secret is shown once and stored only as a hash).
import { WritError } from '../../core/index.js';
import { argsOf, noExtraPositionals } from '../args.js';
import { CliErrors } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { openLocalHome } from '../local-home.js';
import { requireLocal, REMOTE_OPTIONS } from '../remote.js';
import { table } from '../render.js';
import type { CommandContext, CommandSpec } from '../command.js';

export const keysCommand: CommandSpec = {
  name: 'keys',
  summary: 'create, list and revoke API keys (local home)',
  usage: 'writ keys create --principal ID [--label L] | keys list [--principal ID] | keys revoke KEY_ID',
  options: {
    principal: { type: 'string', description: 'the principal the key acts as (create), or whose keys to list' },
    label: { type: 'string', description: 'a note to tell keys apart (create)' },
    ...REMOTE_OPTIONS,
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'keys');
    const sub = args.sub(['create', 'list', 'revoke'] as const);
    requireLocal(ctx, 'keys');
    noExtraPositionals(ctx, 'keys', sub === 'revoke' ? 2 : 1);
    const keyId = sub === 'revoke' ? args.positional(1, 'KEY_ID') : undefined;
    const principalId = sub === 'create' ? args.need('principal') : args.string('principal');
    const home = await openLocalHome(ctx.env);
    try {
      if (sub === 'create') {
        const issued = home.keys.create(principalId as string, args.string('label') ?? '');
        ctx.out.result(issued, [
          `created ${issued.id} for ${issued.principalId}${issued.label ? ` (${issued.label})` : ''}`,
          issued.key,
          'the key is shown once and stored only as a hash: keep it now (e.g. `export WRIT_KEY=…`)',
        ].join('\n'));
        return EXIT.OK;
      }
      if (sub === 'list') {
        const keys = home.keys.list(principalId);
        ctx.out.result(
          { keys },
          keys.length === 0
            ? 'no keys'
            : table(
                ['id', 'principal', 'label', 'created', 'last used', 'revoked'],
                keys.map((k) => [k.id, k.principalId, k.label || '-', k.createdAt, k.lastUsedAt, k.revokedAt]),
              ),
        );
        return EXIT.OK;
      }
      const existing = home.keys.list().find((k) => k.id === keyId);
      if (existing === undefined) throw new WritError(CliErrors.CLI_RECORD_NOT_FOUND, `no api key \`${keyId}\``, { details: { keyId } });
      home.keys.revoke(keyId as string);
      const after = home.keys.list().find((k) => k.id === keyId);
      ctx.out.result(after, existing.revokedAt === null ? `revoked ${keyId} (${existing.principalId})` : `${keyId} was already revoked at ${existing.revokedAt}`);
      return EXIT.OK;
    } finally {
      await home.close();
    }
  },
};
