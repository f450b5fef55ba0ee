// `writ audit verify|lineage|impact|tail`: the ledger's answers. `verify` walks the hash
// chain and signed checkpoints and names the first bad entry (exit 1 when broken); with
// `--server` it shows the server's answer to the key's tenant: the whole chain's verdict
// with that tenant's own figures;
// `lineage ID` shows what informed a decision or transition (proposal, bundles, chunks'
// documents, policies, approvals); `impact DOCUMENT_ID` what a document informed;
// `tail` prints the newest entries and, with `--follow`, new ones as they are appended.
import { WritError } from '../../core/index.js';
import type { LedgerEntry, LedgerGraph, LedgerTenantVerification, LedgerVerification } from '../../ledger/index.js';
import { CliErrors } from '../errors.js';
import { argsOf, noExtraPositionals } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { openAuditLedger } from '../local-home.js';
import { onInterrupt } from '../progress.js';
import { remoteOf, REMOTE_OPTIONS, type Remote } from '../remote.js';
import { table } from '../render.js';
import type { CommandContext, CommandSpec } from '../command.js';

/** One line per entry: seq, time, kind, subject, actor. */
export function entryLine(e: LedgerEntry): string {
  return `${String(e.seq).padStart(6)}  ${e.at}  ${e.kind.padEnd(22)} ${e.subjectId}${e.actorId ? `  by ${e.actorId}` : ''}${e.tenant ? `  [${e.tenant}]` : ''}`;
}

/** The one-line verdict `writ audit verify` prints. */
export function renderVerification(v: LedgerVerification | LedgerTenantVerification): string {
  if ('tenant' in v) return renderTenantVerification(v);
  if (v.ok) return `ledger ok: ${v.checked} entries and ${v.checkpoints} signed checkpoints verified; head ${v.head.seq} ${v.head.hash}`;
  const bad = v.firstBad;
  // Problems of the tables themselves (schema_altered, index_corrupt) sit at no entry (seq 0).
  const where = bad === undefined ? ' at entry ?' : bad.seq >= 1 ? ` at entry ${bad.seq}` : '';
  return `ledger BROKEN${where}: ${bad?.problem ?? 'unknown'}: ${bad?.message ?? ''} (${v.checked} entries checked)`;
}

/** What a server tells a tenant's auditor: the whole chain's verdict, and that tenant's own figures only. */
function renderTenantVerification(v: LedgerTenantVerification): string {
  const mine = `${v.checked} entries of tenant \`${v.tenant}\``;
  if (v.ok) {
    const newest = v.lastChecked === null ? '' : `, the newest entry ${v.lastChecked.seq} ${v.lastChecked.hash}`;
    return `ledger ok: the whole chain is intact; ${mine} verified${newest}`;
  }
  const bad = v.firstBad;
  const where = bad?.seq === undefined ? '' : ` at entry ${bad.seq}`;
  return `ledger BROKEN${where}: ${bad?.problem ?? 'unknown'}: ${bad?.message ?? ''} (${mine} verified before it)`;
}

function renderGraph(title: string, g: LedgerGraph): string {
  const kinds = Object.keys(g.byKind).sort();
  const lines = [`${title} of ${g.id}: ${g.entries.length} entries${g.truncated ? ' (truncated)' : ''}`];
  for (const kind of kinds) {
    const subjects = [...new Set((g.byKind[kind] ?? []).map((e) => e.subjectId))];
    lines.push(`  ${kind.padEnd(22)} ${subjects.join(', ')}`);
  }
  lines.push('', ...g.entries.map(entryLine));
  return lines.join('\n');
}

export const auditCommand: CommandSpec = {
  name: 'audit',
  summary: 'verify the ledger, show lineage or impact, tail entries',
  usage: 'writ audit verify | audit lineage ID | audit impact DOCUMENT_ID | audit tail [--limit N] [--kinds K,K] [--request-id REQ] [--follow]',
  options: {
    limit: { type: 'string', description: 'tail: how many of the newest entries (default 20)' },
    kinds: { type: 'string', multiple: true, description: 'tail: only these kinds, e.g. `decision.made,transition.executed`' },
    'request-id': { type: 'string', description: 'tail: only the entries one request caused (its `requestId`, e.g. from a SERVER_TIMEOUT answer)' },
    follow: { type: 'boolean', description: 'tail: keep printing new entries until Ctrl-C' },
    interval: { type: 'string', description: 'tail --follow: poll interval in ms (default 500)' },
    ...REMOTE_OPTIONS,
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'audit');
    const sub = args.sub(['verify', 'lineage', 'impact', 'tail'] as const);
    noExtraPositionals(ctx, 'audit', sub === 'lineage' || sub === 'impact' ? 2 : 1);
    const id = sub === 'lineage' || sub === 'impact' ? args.positional(1, sub === 'lineage' ? 'ID (a decision, transition, proposal or bundle id)' : 'DOCUMENT_ID') : '';
    const limit = args.int('limit', { min: 1, max: 10_000 }) ?? 20;
    const kinds = args.list('kinds');
    const interval = args.int('interval', { min: 50 }) ?? 500;
    const remote = remoteOf(ctx);

    const requestId = args.string('request-id');
    if (sub === 'tail') return tail(ctx, remote, { limit, kinds, requestId, follow: args.bool('follow'), interval });

    let verification: LedgerVerification | LedgerTenantVerification | undefined;
    let graph: LedgerGraph | undefined;
    if (remote !== undefined) {
      if (sub === 'verify') verification = await remote.call<LedgerTenantVerification>('GET', '/v1/audit/verify');
      else graph = await remote.call<LedgerGraph>('GET', `/v1/audit/${sub}/${encodeURIComponent(id)}`);
    } else {
      const home = openAuditLedger(ctx.env);
      try {
        if (sub === 'verify') verification = await home.ledger.verifyAsync();
        else graph = sub === 'lineage' ? home.ledger.lineage(id) : home.ledger.impact(id);
      } finally {
        home.close();
      }
    }
    if (verification !== undefined) {
      ctx.out.result(verification, renderVerification(verification));
      return verification.ok ? EXIT.OK : EXIT.FAILURE;
    }
    const g = graph as LedgerGraph;
    if (g.entries.length === 0) throw new WritError(CliErrors.CLI_RECORD_NOT_FOUND, `no ledger entry names \`${id}\``, { details: { id } });
    ctx.out.result(g, renderGraph(sub, g));
    return EXIT.OK;
  },
};

async function tail(ctx: CommandContext, remote: Remote | undefined, o: { limit: number; kinds: string[]; requestId: string | undefined; follow: boolean; interval: number }): Promise<ExitCode> {
  const kindsQuery = (o.kinds.length > 0 ? `&kinds=${encodeURIComponent(o.kinds.join(','))}` : '') + (o.requestId === undefined ? '' : `&requestId=${encodeURIComponent(o.requestId)}`);
  let fetchAfter: (afterSeq: number, limit: number) => Promise<LedgerEntry[]>;
  let close = async (): Promise<void> => undefined;
  if (remote !== undefined) {
    fetchAfter = async (afterSeq, limit) => {
      const answer = await remote.call<LedgerEntry[] | { entries: LedgerEntry[] }>('GET', `/v1/audit/entries?afterSeq=${afterSeq}&limit=${limit}${kindsQuery}`);
      return Array.isArray(answer) ? answer : answer.entries;
    };
  } else {
    const home = openAuditLedger(ctx.env);
    close = async () => home.close();
    fetchAfter = async (afterSeq, limit) =>
      home.ledger.entries({ afterSeq, limit, ...(o.kinds.length > 0 ? { kinds: o.kinds } : {}), ...(o.requestId === undefined ? {} : { requestId: o.requestId }) });
  }
  try {
    // The newest `limit` entries: page forward, keeping the last ones (the API pages by seq).
    let last: LedgerEntry[] = [];
    let after = 0;
    for (;;) {
      const page = await fetchAfter(after, 1000);
      if (page.length === 0) break;
      last = [...last, ...page].slice(-o.limit);
      after = (page[page.length - 1] as LedgerEntry).seq;
      if (page.length < 1000) break;
    }
    if (!o.follow) {
      ctx.out.result({ entries: last }, last.length === 0 ? 'the ledger has no matching entries' : last.map(entryLine).join('\n'));
      return EXIT.OK;
    }
    // Following is a stream: one line per entry (one compact JSON object per line with --json).
    const print = (e: LedgerEntry): void => ctx.out.line(e, entryLine(e));
    last.forEach(print);
    let stopped = false;
    let wake: (() => void) | undefined;
    const release = onInterrupt(() => {
      stopped = true;
      wake?.();
    });
    try {
      while (!stopped) {
        const page = await fetchAfter(after, 1000);
        for (const e of page) print(e);
        if (page.length > 0) after = (page[page.length - 1] as LedgerEntry).seq;
        if (page.length < 1000) await new Promise<void>((r) => { wake = r; setTimeout(r, o.interval); });
      }
    } finally {
      release();
    }
    return EXIT.OK;
  } finally {
    await close();
  }
}
