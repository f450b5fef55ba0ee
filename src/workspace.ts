// A workspace: the folder that tells a Writ home what it serves — catalog, Cedar
// policies, principals and document sources. `writ init` writes one; `npm start` uses
// the sample `examples/support-desk`.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { NameSchema, PrincipalSchema, WritError, defineErrors, toInputIssues, type Principal } from './core/index.js';

export const WorkspaceErrors = defineErrors('workspace', {
  WORKSPACE_NOT_FOUND: {
    status: 404,
    meaning: 'the workspace folder or its `workspace.yaml` does not exist',
    fix: 'point `WRIT_WORKSPACE` at a folder with a `workspace.yaml`, or create one with `writ init DIR`',
  },
  WORKSPACE_INVALID: {
    status: 400,
    meaning: 'the workspace manifest or one of its files is invalid; `details.issues` lists every problem',
    fix: 'correct each listed problem in the workspace files',
  },
});

const DocumentSourceSchema = z
  .object({
    /** File or folder, relative to the workspace. */
    path: z.string().min(1),
    tenant: NameSchema,
    /** Principal ids, `group:NAME`, or `*` for every principal of the tenant. */
    readers: z.array(z.string().min(1)).min(1),
    labels: z.array(z.string().min(1)).default([]),
  })
  .strict();

export const WorkspaceManifestSchema = z
  .object({
    name: NameSchema,
    catalog: z.string().min(1),
    policies: z.string().min(1),
    principals: z.string().min(1).optional(),
    documents: z.array(DocumentSourceSchema).default([]),
  })
  .strict();

/**
 * A principal as the workspace lists it: `disabled: true` withdraws it (its keys stop
 * working, it can no longer act or approve) while its records stay its own.
 */
const WorkspacePrincipalSchema = PrincipalSchema.extend({ disabled: z.boolean().default(false) });
export type WorkspacePrincipal = z.output<typeof WorkspacePrincipalSchema>;

const PrincipalsFileSchema = z.object({ principals: z.array(WorkspacePrincipalSchema) }).strict();

/** A loaded workspace with absolute paths. */
export interface Workspace {
  readonly dir: string;
  readonly name: string;
  readonly catalogPath: string;
  readonly policiesDir: string;
  readonly principals: readonly WorkspacePrincipal[];
  readonly documents: ReadonlyArray<z.output<typeof DocumentSourceSchema> & { absPath: string }>;
}

function readYaml(path: string): unknown {
  try {
    return parseYaml(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new WritError(WorkspaceErrors.WORKSPACE_INVALID, `cannot read \`${path}\`: ${(cause as Error).message.split('\n')[0]}`, {
      cause,
      details: { path, issues: [{ path, code: 'unreadable', message: (cause as Error).message.split('\n')[0] ?? '' }] },
    });
  }
}

function invalid(path: string, issues: Array<{ path: string; code: string; message: string }>): never {
  const list = issues.map((i) => `\`${i.path}\`: ${i.message}`).join('; ');
  throw new WritError(WorkspaceErrors.WORKSPACE_INVALID, `invalid workspace file \`${path}\`: ${list}`, { details: { path, issues } });
}

/**
 * Reads `DIR/workspace.yaml` (or the manifest file itself) and the principals file, checking
 * that every named path exists. Catalog and policies are validated by the broker.
 *
 * @example
 * const ws = loadWorkspace('examples/support-desk');
 * ws.principals.map((p) => p.id) // ['desk-agent', 'sam', …]
 */
export function loadWorkspace(dirOrManifest: string): Workspace {
  const abs = resolve(dirOrManifest);
  const manifestPath = existsSync(abs) && statSync(abs).isDirectory() ? join(abs, 'workspace.yaml') : abs;
  if (!existsSync(manifestPath)) {
    throw new WritError(WorkspaceErrors.WORKSPACE_NOT_FOUND, `no workspace at \`${manifestPath}\``, { details: { path: manifestPath } });
  }
  const dir = dirname(manifestPath);
  const parsed = WorkspaceManifestSchema.safeParse(readYaml(manifestPath));
  if (!parsed.success) invalid(manifestPath, toInputIssues(parsed.error.issues));
  const manifest = parsed.data;
  const at = (p: string) => (isAbsolute(p) ? p : join(dir, p));
  const missing = [
    ['catalog', manifest.catalog],
    ['policies', manifest.policies],
    ...(manifest.principals ? [['principals', manifest.principals]] : []),
    ...manifest.documents.map((d, i) => [`documents.${i}.path`, d.path]),
  ]
    .filter(([, p]) => !existsSync(at(p as string)))
    .map(([path, p]) => ({ path: path as string, code: 'missing', message: `\`${at(p as string)}\` does not exist` }));
  if (missing.length > 0) invalid(manifestPath, missing);

  let principals: WorkspacePrincipal[] = [];
  if (manifest.principals) {
    const file = at(manifest.principals);
    const result = PrincipalsFileSchema.safeParse(readYaml(file));
    if (!result.success) invalid(file, toInputIssues(result.error.issues));
    principals = result.data.principals;
  }
  return {
    dir,
    name: manifest.name,
    catalogPath: at(manifest.catalog),
    policiesDir: at(manifest.policies),
    principals,
    documents: manifest.documents.map((d) => ({ ...d, absPath: at(d.path) })),
  };
}
