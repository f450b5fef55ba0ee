// `writ reindex`: rebuilds the Chroma collection from SQLite, the system of record
// (`--reembed` recomputes every vector with the current model first). Local home only.
import { argsOf, noExtraPositionals } from '../args.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { openLocalHome } from '../local-home.js';
import { requireLocal, REMOTE_OPTIONS } from '../remote.js';
import type { CommandContext, CommandSpec } from '../command.js';

export const reindexCommand: CommandSpec = {
  name: 'reindex',
  summary: 'rebuild the vector index from SQLite (local home; stop the server first)',
  usage: 'writ reindex [--reembed]',
  options: {
    reembed: { type: 'boolean', description: 're-embed every chunk with the current model before rebuilding' },
    ...REMOTE_OPTIONS,
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'reindex');
    noExtraPositionals(ctx, 'reindex', 0);
    requireLocal(ctx, 'reindex');
    const started = Date.now();
    const reembed = args.bool('reembed');
    // Re-embedding is how a collection of another model (after a `WRIT_MODEL` change) is
    // replaced, so only then may it be opened; a plain reindex still refuses it.
    const home = await openLocalHome(ctx.env, { withRetrieval: true, rebuildVectorIndex: reembed });
    try {
      ctx.out.info(`reindex: rebuilding the vector index${reembed ? ' (re-embedding every chunk)' : ''}…`);
      const { chunks } = await home.app!.retrieval.reindex({ reembed });
      const elapsedMs = Date.now() - started;
      ctx.out.result({ chunks, elapsedMs, model: home.app!.embedder.modelId }, `reindexed ${chunks} chunks in ${(elapsedMs / 1000).toFixed(1)} s (model ${home.app!.embedder.modelId})`);
      return EXIT.OK;
    } finally {
      await home.close();
    }
  },
};
