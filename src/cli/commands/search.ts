// `writ search QUERY`: a permission-aware hybrid search, as a principal. Prints each result
// with its dense, lexical and fused scores, and the id of the sealed bundle. Local mode is
// an operator tool: it acts as the principal named by `--as` (the retrieval is recorded
// in the ledger under that principal).
import type { RetrievalResult } from '../../retrieval/index.js';
import { argsOf } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { openLocalHome } from '../local-home.js';
import { remoteOf, REMOTE_OPTIONS } from '../remote.js';
import type { CommandContext, CommandSpec } from '../command.js';

const score = (v: number | null, digits = 3): string => (v === null ? '-' : v.toFixed(digits));

/** Human rendering of a retrieval: bundle line, then one block per result. */
export function renderRetrieval(r: RetrievalResult): string {
  const lines = [
    `bundle ${r.bundleId}  seal ${r.seal}`,
    `${r.results.length} result${r.results.length === 1 ? '' : 's'} in ${r.tookMs} ms (k ${r.bounds.k}, dense ${r.denseStrategy}${r.truncated ? `, truncated: ${r.truncatedReason ?? 'yes'}` : ''})`,
  ];
  for (const c of r.results) {
    // Headings carry their path from the title down (`Refund policy > Who may…`): show it once.
    const where = c.heading !== '' && c.heading.startsWith(c.title) ? c.heading : [c.title, c.heading].filter((s) => s !== '').join(' › ');
    lines.push('');
    lines.push(`${String(c.rank).padStart(2)}. fused ${score(c.scores.fused)}  dense ${score(c.scores.dense)}  lexical ${score(c.scores.lexical, 2)}  ${where || c.sourceUri}`);
    lines.push(`    chunk ${c.chunkId}  document ${c.documentId} v${c.documentVersion}  ${c.sourceUri}`);
    const snippet = c.text.replace(/\s+/g, ' ').trim();
    lines.push(`    ${snippet.length > 160 ? `${snippet.slice(0, 157)}…` : snippet}`);
  }
  return lines.join('\n');
}

export const searchCommand: CommandSpec = {
  name: 'search',
  summary: 'search as a principal: results with dense/lexical/fused scores and the sealed bundle id',
  usage: 'writ search QUERY --as PRINCIPAL [--k N] [--session S]   (remote: the key\'s principal)',
  options: {
    as: { type: 'string', description: 'local mode: the principal to search as (operator tool)' },
    k: { type: 'string', description: 'number of results (default 5)' },
    session: { type: 'string', description: 'charge this session and let its proposals cite the bundle (required as an agent)' },
    label: { type: 'string', multiple: true, description: 'keep only documents carrying these labels' },
    ...REMOTE_OPTIONS,
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'search');
    const query = ctx.positionals.join(' ').trim();
    if (query === '') args.positional(0, 'QUERY');
    const k = args.int('k', { min: 1 }) ?? 5;
    const labels = args.list('label');
    const input = {
      query,
      k,
      ...(args.string('session') ? { sessionId: args.string('session') as string } : {}),
      ...(labels.length > 0 ? { filters: { labels } } : {}),
    };
    const remote = remoteOf(ctx);
    if (remote !== undefined) {
      const result = await remote.call<RetrievalResult>('POST', '/v1/retrieve', input);
      ctx.out.result(result, renderRetrieval(result));
      return EXIT.OK;
    }
    const as = args.need('as');
    const home = await openLocalHome(ctx.env, { withRetrieval: true });
    try {
      const result = await home.app!.retrieve(home.principal(as), input);
      ctx.out.result(result, renderRetrieval(result));
      return EXIT.OK;
    } finally {
      await home.close();
    }
  },
};
