// `writ policy validate [DIR]`: checks Cedar policies against the schema generated from
// the catalog and prints Cedar's messages (exit 2 when invalid). `writ policy test
// FIXTURES`: runs decision fixtures against the engine and reports pass/fail (exit 1 when
// any fails).
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isWritError } from '../../core/index.js';
import { BrokerErrors, loadCatalogFile, loadPolicies, readPolicyDir, type PolicySource } from '../../broker/index.js';
import { loadWorkspace } from '../../workspace.js';
import { argsOf, noExtraPositionals } from '../args.js';
import { runDecisionFixtures } from '../decision-fixtures.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { cliConfig } from '../local-home.js';
import { remoteOf, REMOTE_OPTIONS } from '../remote.js';
import type { CommandContext, CommandSpec } from '../command.js';

/** The policy folder and catalog file `validate` checks: a workspace, a policy folder, or the configured workspace. */
function resolveTarget(ctx: CommandContext, dir: string | undefined, catalogFlag: string | undefined): { policiesDir: string; catalogPath: string } {
  const configured = () => loadWorkspace(cliConfig(ctx.env).workspace);
  if (dir === undefined) {
    const ws = configured();
    return { policiesDir: ws.policiesDir, catalogPath: catalogFlag ?? ws.catalogPath };
  }
  const abs = resolve(dir);
  if (existsSync(join(abs, 'workspace.yaml')) || (existsSync(abs) && !statSync(abs).isDirectory())) {
    const ws = loadWorkspace(abs);
    return { policiesDir: ws.policiesDir, catalogPath: catalogFlag ?? ws.catalogPath };
  }
  const sibling = join(dirname(abs), 'catalog.yaml');
  return { policiesDir: abs, catalogPath: catalogFlag ?? (existsSync(sibling) ? sibling : configured().catalogPath) };
}

const INVALID_FILES = [
  BrokerErrors.BROKER_POLICY_INVALID,
  BrokerErrors.BROKER_POLICY_UNREADABLE,
  BrokerErrors.BROKER_CATALOG_INVALID,
  BrokerErrors.BROKER_CATALOG_UNREADABLE,
] as const;

export const policyCommand: CommandSpec = {
  name: 'policy',
  summary: 'validate Cedar policies against the catalog, or run decision fixtures',
  usage: 'writ policy validate [DIR] [--catalog FILE] | writ policy test FIXTURES',
  options: {
    catalog: { type: 'string', description: 'validate: the catalog file (default: DIR/../catalog.yaml, else the workspace\'s)' },
    ...REMOTE_OPTIONS,
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'policy');
    const sub = args.sub(['validate', 'test'] as const);
    noExtraPositionals(ctx, 'policy', 2);
    if (sub === 'test') {
      const path = args.positional(1, 'FIXTURES (a fixture file or folder)');
      let workspace: { catalogPath: string; policiesDir: string } | undefined;
      try {
        workspace = loadWorkspace(cliConfig(ctx.env).workspace);
      } catch {
        workspace = undefined;
      }
      const results = runDecisionFixtures(path, workspace === undefined ? {} : { workspace });
      const failed = results.filter((r) => !r.passed);
      const lines = results.map((r) => `${r.passed ? 'pass' : 'FAIL'}  ${r.file}: ${r.name}${r.passed ? '' : `\n        ${r.mismatches.join('\n        ')}`}`);
      lines.push('', `${results.length - failed.length} passed, ${failed.length} failed (${results.length} cases)`);
      ctx.out.result({ passed: results.length - failed.length, failed: failed.length, results }, lines.join('\n'));
      return failed.length === 0 ? EXIT.OK : EXIT.FAILURE;
    }

    const dir = ctx.positionals[1];
    const remote = remoteOf(ctx);
    if (remote !== undefined) {
      // The server validates against its own catalog.
      const sources: PolicySource[] = readPolicyDir(dir === undefined ? loadWorkspace(cliConfig(ctx.env).workspace).policiesDir : resolve(dir));
      const answer = await remote.call<{ valid?: boolean; ok?: boolean; problems?: Array<{ file: string; policyId: string | null; message: string }>; hash?: string }>(
        'POST',
        '/v1/policies/validate',
        { sources: sources.map((s) => ({ id: s.file, text: s.text })) },
      );
      const valid = answer.valid ?? answer.ok ?? (answer.problems ?? []).length === 0;
      ctx.out.result(answer, valid ? `policies valid on ${remote.url} (${sources.length} files)` : ['policies INVALID:', ...(answer.problems ?? []).map((p) => `  - ${p.file}${p.policyId ? ` (${p.policyId})` : ''}: ${p.message}`)].join('\n'));
      return valid ? EXIT.OK : EXIT.INVALID_INPUT;
    }
    const target = resolveTarget(ctx, dir, args.string('catalog'));
    try {
      const catalog = loadCatalogFile(target.catalogPath);
      const sources = readPolicyDir(target.policiesDir);
      const set = loadPolicies({ catalog, sources });
      const own = set.policies.filter((p) => !p.isDefault).length;
      ctx.out.result(
        { valid: true, policiesDir: target.policiesDir, catalog: target.catalogPath, files: sources.map((s) => s.file), policies: set.policies.map((p) => ({ id: p.id, file: p.file, effect: p.effect, isDefault: p.isDefault })), hash: set.hash },
        [
          `policies valid: ${own} in ${sources.length} files, plus ${set.policies.length - own} defaults`,
          `  folder:  ${target.policiesDir}`,
          `  catalog: ${target.catalogPath} (namespace ${catalog.namespace})`,
          `  policy-set hash: ${set.hash}`,
        ].join('\n'),
      );
      return EXIT.OK;
    } catch (err) {
      // Invalid or unreadable policies or catalog are invalid input here, what `validate` is
      // for (the server treats them as a start-up failure).
      if (INVALID_FILES.some((code) => isWritError(err, code))) {
        ctx.out.error(err);
        return EXIT.INVALID_INPUT;
      }
      throw err;
    }
  },
};
