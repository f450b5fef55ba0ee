// `writ init [DIR]`: writes a new workspace — manifest, catalog, Cedar policies,
// principals, a documents folder — and a config file pointing a Writ home at it. Based on
// the sample refund desk (one tenant); never overwrites anything.
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PACKAGE_ROOT, WritError } from '../../core/index.js';
import { createPolicyEngine, loadCatalogFile, loadPolicyDir } from '../../broker/index.js';
import { loadWorkspace } from '../../workspace.js';
import { argsOf, noExtraPositionals } from '../args.js';
import { CliErrors } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { CommandContext, CommandSpec } from '../command.js';

const SAMPLE = join(PACKAGE_ROOT, 'examples', 'support-desk');

export const initCommand: CommandSpec = {
  name: 'init',
  summary: 'write a new workspace (catalog, policies, principals, documents) and its config',
  usage: 'writ init [DIR]   (default: ./writ-workspace)',
  options: {
    name: { type: 'string', description: 'workspace name (default: the folder name, lowercased)' },
  },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'init');
    noExtraPositionals(ctx, 'init', 1);
    const dir = resolve(ctx.positionals[0] ?? 'writ-workspace');
    if (existsSync(dir) && readdirSync(dir).length > 0) {
      throw new WritError(CliErrors.CLI_TARGET_EXISTS, `\`${dir}\` is not empty: \`writ init\` never overwrites, pick a new or empty folder`, { details: { dir } });
    }
    const fallback = dir.split(/[\\/]/).pop()?.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'workspace';
    const name = args.string('name') ?? fallback;
    mkdirSync(dir, { recursive: true });
    cpSync(join(SAMPLE, 'catalog.yaml'), join(dir, 'catalog.yaml'), { errorOnExist: true, force: false });
    cpSync(join(SAMPLE, 'policies'), join(dir, 'policies'), { recursive: true, errorOnExist: true, force: false });
    cpSync(join(SAMPLE, 'principals.yaml'), join(dir, 'principals.yaml'), { errorOnExist: true, force: false });
    cpSync(join(SAMPLE, 'documents'), join(dir, 'documents'), { recursive: true, errorOnExist: true, force: false });
    writeFileSync(
      join(dir, 'workspace.yaml'),
      [
        `# Writ workspace \`${name}\` (written by \`writ init\`; based on the sample refund desk).`,
        '# The catalog declares resource types, their state machines and the actions that drive them;',
        '# policies/ holds Cedar policies (deny by default); principals.yaml the users, agents and',
        '# services (API keys are created on first start and printed once); documents are ingested',
        '# for the tenant and readers given here.',
        `name: ${name}`,
        'catalog: catalog.yaml',
        'policies: policies',
        'principals: principals.yaml',
        'documents:',
        '  - path: documents',
        '    tenant: acme',
        '    readers: [group:support]',
        `    labels: [${name}]`,
        '',
      ].join('\n'),
      { flag: 'wx' },
    );
    const config = { home: join(dir, '.writ'), workspace: dir };
    writeFileSync(join(dir, 'writ.config.json'), `${JSON.stringify(config, null, 2)}\n`, { flag: 'wx' });
    writeFileSync(join(dir, '.gitignore'), '# the Writ home: database, vectors and private keys\n.writ/\n', { flag: 'wx' });

    // Check what was written the way `writ serve` will read it.
    const ws = loadWorkspace(dir);
    const catalog = loadCatalogFile(ws.catalogPath);
    createPolicyEngine({ catalog, policies: loadPolicyDir(ws.policiesDir, { catalog }) });

    const files = ['workspace.yaml', 'catalog.yaml', 'policies/', 'principals.yaml', 'documents/', 'writ.config.json', '.gitignore'];
    ctx.out.result(
      { dir, name, files, config: join(dir, 'writ.config.json'), home: config.home, principals: ws.principals.map((p) => p.id) },
      [
        `created workspace \`${name}\` in ${dir}`,
        ...files.map((f) => `  ${f}`),
        '',
        'Next steps:',
        `  export WRIT_CONFIG=${join(dir, 'writ.config.json')}   # home ${config.home}, this workspace`,
        '  writ policy validate                # check the Cedar policies against the catalog',
        '  writ serve                          # ingests documents/, prints API keys once',
        '  writ keys create --principal sam    # more keys, any time',
        `  writ search "refund policy" --as sam`,
        'Edit catalog.yaml, policies/ and principals.yaml to fit your domain; see docs/cli.md.',
      ].join('\n'),
    );
    return EXIT.OK;
  },
};
