// `writ keys create|list|revoke`: API keys bound to a principal (local home only — the
// key secret is shown once and stored only as a hash). `writ keys signing` lists the
// home's signing keys and `writ keys rotate ledger|warrant` replaces one, on the ledger.
import { join } from 'node:path';
import { WritError, openKeyring, type KeyInfo } from '../../core/index.js';
import { argsOf, noExtraPositionals } from '../args.js';
import { CliErrors } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { openLocalHome } from '../local-home.js';
import { rotateSigningKey } from '../../signing-keys.js';
import { requireLocal, REMOTE_OPTIONS } from '../remote.js';
import { table } from '../render.js';
import type { CommandContext, CommandSpec } from '../command.js';

export const keysCommand: CommandSpec = {
  name: 'keys',
  summary: 'create, list and revoke API keys; list and rotate the signing keys (local home)',
  usage: 'writ keys create --principal ID [--label L] | keys list [--principal ID] | keys revoke KEY_ID | keys signing | keys rotate ledger|warrant',
  options: {
    principal: { type: 'string', description: 'the principal the key acts as (create), or whose keys to list' },
    label: { type: 'string', description: 'a note to tell keys apart (create)' },
    ...REMOTE_OPTIONS,
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'keys');
    const sub = args.sub(['create', 'list', 'revoke', 'signing', 'rotate'] as const);
    requireLocal(ctx, 'keys');
    noExtraPositionals(ctx, 'keys', sub === 'revoke' || sub === 'rotate' ? 2 : 1);
    const keyId = sub === 'revoke' ? args.positional(1, 'KEY_ID') : undefined;
    const purpose = sub === 'rotate' ? args.positional(1, 'the keyring to rotate (`ledger` or `warrant`)') : undefined;
    if (purpose !== undefined && purpose !== 'ledger' && purpose !== 'warrant') {
      throw new WritError(CliErrors.CLI_USAGE, `unknown keyring \`${purpose}\`: rotate \`ledger\` (checkpoint signatures) or \`warrant\` (warrants)`);
    }
    const principalId = sub === 'create' ? args.need('principal') : args.string('principal');
    const home = await openLocalHome(ctx.env);
    try {
      if (sub === 'signing' || sub === 'rotate') {
        const keyrings = SIGNING_PURPOSES.map((p) => ({ purpose: p, keyring: openKeyring({ dir: join(home.config.home, 'keys', p), purpose: p }) }));
        if (sub === 'signing') {
          const keys = keyrings.flatMap(({ purpose: p, keyring }) => keyring.list().map((k) => signingKeyRow(p, k, keyring.activeKid)));
          ctx.out.result(
            { keys },
            table(['keyring', 'kid', 'created', 'retired', 'active'], keys.map((k) => [k.keyring, k.kid, k.createdAt, k.retiredAt ?? '-', k.active ? 'yes' : ''])),
          );
          return EXIT.OK;
        }
        const target = keyrings.find((k) => k.purpose === purpose) as (typeof keyrings)[number];
        const { activeKid: kid, retiredKid: retired, entry } = rotateSigningKey({ store: home.store, ledger: home.ledger, keyring: target.keyring });
        ctx.out.result(
          { keyring: target.purpose, activeKid: kid, retiredKid: retired, ledgerSeq: entry.seq, keys: target.keyring.list().map((k) => signingKeyRow(target.purpose, k, kid)) },
          [
            `rotated the ${target.purpose} key: ${kid} signs from now on; ${retired} is retired (recorded at ledger entry ${entry.seq})`,
            target.purpose === 'warrant'
              ? 'warrants it signed stay valid until they expire; running processes switch within a second; /.well-known/jwks.json lists both'
              : 'checkpoints it signed still verify; running processes switch within a second',
          ].join('\n'),
        );
        return EXIT.OK;
      }
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

const SIGNING_PURPOSES = ['ledger', 'warrant'] as const;

function signingKeyRow(keyring: string, k: KeyInfo, activeKid: string) {
  return { keyring, kid: k.kid, createdAt: k.createdAt, retiredAt: k.retiredAt, active: k.kid === activeKid };
}
