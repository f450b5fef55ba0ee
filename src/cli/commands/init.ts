// `writ init [DIR]`: writes a new workspace — manifest, catalog, Cedar policies,
// principals, a documents folder — and a config file pointing a Writ home at it. Based on
// the sample refund desk (one tenant); never overwrites anything.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Document } from 'yaml';
import { NameSchema, PACKAGE_ROOT, WritError } from '../../core/index.js';
import { createPolicyEngine, loadCatalogFile, loadPolicyDir } from '../../broker/index.js';
import { loadWorkspace } from '../../workspace.js';
import { argsOf, noExtraPositionals } from '../args.js';
import { CliErrors } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { CommandContext, CommandSpec } from '../command.js';

const SAMPLE = join(PACKAGE_ROOT, 'examples', 'support-desk');
const FILES = ['workspace.yaml', 'catalog.yaml', 'policies/', 'principals.yaml', 'documents/', 'writ.config.json', '.gitignore'];

/** Refuses a target that is a file, or a folder with anything in it: `init` never overwrites. */
function checkTarget(dir: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return; // nothing there yet
    if (code !== 'ENOTDIR') throw err;
    throw new WritError(CliErrors.CLI_TARGET_EXISTS, `\`${dir}\` cannot be a folder: a file stands on its path: pick a new or empty folder`, { cause: err, details: { dir } });
  }
  if (!isDirectory) {
    throw new WritError(CliErrors.CLI_TARGET_EXISTS, `\`${dir}\` exists and is not a folder: \`writ init\` never overwrites, pick a new or empty folder`, { details: { dir } });
  }
  if (readdirSync(dir).length > 0) {
    throw new WritError(CliErrors.CLI_TARGET_EXISTS, `\`${dir}\` is not empty: \`writ init\` never overwrites, pick a new or empty folder`, { details: { dir } });
  }
}

/**
 * The workspace name: `--name` as given (it must be a valid name), else one derived from
 * the folder name (lowercased, other characters turned into `-`).
 */
function workspaceName(given: string | undefined, dir: string): string {
  if (given !== undefined) {
    const parsed = NameSchema.safeParse(given);
    if (!parsed.success) {
      const why = parsed.error.issues[0]?.message ?? 'not a valid name';
      throw new WritError(CliErrors.CLI_USAGE, `\`--name\` \`${given}\` is not a valid workspace name: ${why}`, { details: { name: given } });
    }
    return parsed.data;
  }
  const derived = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._:@-]+/g, '-')
    .replace(/^[^a-z0-9]+|-+$/g, '')
    .slice(0, 128);
  if (!NameSchema.safeParse(derived).success) {
    throw new WritError(CliErrors.CLI_USAGE, `cannot derive a workspace name from the folder \`${basename(dir)}\`: pass \`--name NAME\` (letters, digits and . _ : @ -)`, { details: { dir } });
  }
  return derived;
}

/** workspace.yaml, written by the yaml library so that any valid name stays a string (`123`, `null`). */
function manifestYaml(name: string): string {
  const doc = new Document({
    name,
    catalog: 'catalog.yaml',
    policies: 'policies',
    principals: 'principals.yaml',
    documents: [{ path: 'documents', tenant: 'acme', readers: ['group:support'], labels: [name] }],
  });
  doc.commentBefore = [
    ` Writ workspace \`${name}\` (written by \`writ init\`; based on the sample refund desk).`,
    ' The catalog declares resource types, their state machines and the actions that drive them;',
    ' policies/ holds Cedar policies (deny by default); principals.yaml the users, agents and',
    ' services (API keys are created on first start and printed once); documents are ingested',
    ' for the tenant and readers given here.',
  ].join('\n');
  return doc.toString();
}

/** Writes the workspace files into `into`; the config names `dir`, where they will end up. */
function writeWorkspace(into: string, dir: string, name: string): void {
  const copy = { recursive: true, errorOnExist: true, force: false } as const;
  cpSync(join(SAMPLE, 'catalog.yaml'), join(into, 'catalog.yaml'), copy);
  cpSync(join(SAMPLE, 'policies'), join(into, 'policies'), copy);
  cpSync(join(SAMPLE, 'principals.yaml'), join(into, 'principals.yaml'), copy);
  cpSync(join(SAMPLE, 'documents'), join(into, 'documents'), copy);
  writeFileSync(join(into, 'workspace.yaml'), manifestYaml(name), { flag: 'wx' });
  // Relative to the config file (loadConfig resolves them there): the folder can move.
  const config = { home: '.writ', workspace: '.' };
  writeFileSync(join(into, 'writ.config.json'), `${JSON.stringify(config, null, 2)}\n`, { flag: 'wx' });
  writeFileSync(join(into, '.gitignore'), '# the Writ home: database, vectors and private keys\n.writ/\n', { flag: 'wx' });
}

/** Checks what was written the way `writ serve` will read it; returns the principal ids. */
function checkWorkspace(dir: string): string[] {
  const ws = loadWorkspace(dir);
  const catalog = loadCatalogFile(ws.catalogPath);
  createPolicyEngine({ catalog, policies: loadPolicyDir(ws.policiesDir, { catalog }) });
  return ws.principals.map((p) => p.id);
}

/**
 * Builds the workspace in a temporary folder beside `dir`, checks it, then renames it into
 * place (over an empty folder too), so a failure at any step leaves nothing behind.
 */
function createWorkspace(dir: string, name: string): string[] {
  const parent = dirname(dir);
  const createdParent = mkdirSync(parent, { recursive: true });
  const staging = mkdtempSync(join(parent, `.${basename(dir)}.writ-init-`));
  try {
    writeWorkspace(staging, dir, name);
    const principals = checkWorkspace(staging);
    renameSync(staging, dir);
    return principals;
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (createdParent !== undefined) rmSync(createdParent, { recursive: true, force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST') {
      // Something appeared in the target while we wrote.
      throw new WritError(CliErrors.CLI_TARGET_EXISTS, `\`${dir}\` is not empty: \`writ init\` never overwrites, pick a new or empty folder`, { cause: err, details: { dir } });
    }
    throw err;
  }
}

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
    checkTarget(dir);
    const name = workspaceName(args.string('name'), dir);
    const principals = createWorkspace(dir, name);
    const config = { home: join(dir, '.writ') };
    ctx.out.result(
      { dir, name, files: FILES, config: join(dir, 'writ.config.json'), home: config.home, principals },
      [
        `created workspace \`${name}\` in ${dir}`,
        ...FILES.map((f) => `  ${f}`),
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
