// Decision fixtures for `writ policy test`: request facts + policies + expected decision,
// as data (the format of test/broker/fixtures/decisions/README.md). Each case runs against
// the real policy engine; a case passes when outcome, determining policies and (when given)
// obligations match. A path with no cases at all is invalid input, not a pass.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { CoreErrors, PACKAGE_ROOT, WritError } from '../core/index.js';
import {
  FactsSchema,
  createPolicyEngine,
  defineCatalog,
  loadCatalogFile,
  loadPolicies,
  readPolicyDir,
  type Catalog,
  type PolicyDecision,
  type PolicyEngine,
  type PolicySource,
} from '../broker/index.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Where the named references `"support-desk"` and `"workspace"` point. */
export interface FixtureRefs {
  /** The configured workspace's catalog file and policy folder. */
  readonly workspace?: { readonly catalogPath: string; readonly policiesDir: string };
}

/** The result of one case. */
export interface FixtureCaseResult {
  readonly file: string;
  readonly name: string;
  readonly passed: boolean;
  readonly expected: { outcome: string; determiningPolicies: string[]; obligations?: unknown };
  readonly actual: Pick<PolicyDecision, 'outcome' | 'determiningPolicies' | 'obligations' | 'reasons' | 'errors'>;
  /** What differed, empty when it passed. */
  readonly mismatches: readonly string[];
}

const SAMPLE_DIR = join(PACKAGE_ROOT, 'examples', 'support-desk');
const isObject = (v: Json | undefined): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);

function invalid(file: string, message: string): WritError {
  return new WritError(CoreErrors.INVALID_INPUT, `invalid decision fixture \`${file}\`: ${message}`, { details: { issues: [{ path: file, code: 'fixture', message }] } });
}

/** Objects merge key by key; arrays and scalars replace. */
function deepMerge(base: Json, over: Json | undefined): Json {
  if (over === undefined) return base;
  if (!isObject(base) || !isObject(over)) return over;
  const out: { [key: string]: Json } = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = deepMerge(base[key] ?? null, value);
  return out;
}

function readJson(file: string): Json {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Json;
  } catch (cause) {
    throw invalid(file, (cause as Error).message);
  }
}

/** An obligation a case expects (the fixture format of test/broker/fixtures/decisions/README.md). */
interface ExpectedObligation {
  readonly role: string;
  readonly count: number;
  readonly satisfied: boolean;
}

/** `expected.obligations` checked for shape, so a typo in a fixture is an error, not a silent pass or fail. */
function readExpectedObligations(file: string, name: string, value: unknown): ExpectedObligation[] {
  const bad = (why: string) => invalid(file, `case \`${name}\`: \`expected.obligations\` ${why}`);
  if (!Array.isArray(value)) throw bad('must be a list of `{ role, count, satisfied }`');
  return value.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw bad(`entry ${i} must be an object`);
    const o = item as Record<string, unknown>;
    const unknown = Object.keys(o).filter((k) => !['role', 'count', 'satisfied'].includes(k));
    if (unknown.length > 0) throw bad(`entry ${i} has unknown field \`${unknown[0]}\``);
    if (typeof o['role'] !== 'string' || typeof o['count'] !== 'number' || typeof o['satisfied'] !== 'boolean') throw bad(`entry ${i} needs \`role\` (string), \`count\` (number) and \`satisfied\` (boolean)`);
    return o as unknown as ExpectedObligation;
  });
}

/** Obligations compared by role, field by field (key order and list order do not matter). */
function obligationMismatches(expected: readonly ExpectedObligation[], actual: PolicyDecision['obligations']): string[] {
  const out: string[] = [];
  const byRole = new Map(actual.map((o) => [o.role, o]));
  const expectedRoles = new Set(expected.map((o) => o.role));
  for (const want of expected) {
    const got = byRole.get(want.role);
    if (got === undefined) {
      out.push(`obligations: expected one for \`${want.role}\`, got none`);
      continue;
    }
    if (got.count !== want.count) out.push(`obligations: \`${want.role}\` count: expected ${want.count}, got ${got.count}`);
    if (got.satisfied !== want.satisfied) out.push(`obligations: \`${want.role}\` satisfied: expected ${want.satisfied}, got ${got.satisfied}`);
  }
  for (const got of actual) if (!expectedRoles.has(got.role)) out.push(`obligations: got an unexpected one for \`${got.role}\``);
  return out;
}

/** The fixture files of a path: the file itself, or every `*.json` of a folder except `_*.json`. */
export function listFixtureFiles(path: string): string[] {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new WritError(CoreErrors.INVALID_INPUT, `no fixtures at \`${abs}\``, { details: { issues: [{ path: abs, code: 'missing', message: 'does not exist' }] } });
  if (!statSync(abs).isDirectory()) return [abs];
  return readdirSync(abs).filter((f) => f.endsWith('.json') && !f.startsWith('_')).sort().map((f) => join(abs, f));
}

/** Runs every case of the fixture files under `path`. */
export function runDecisionFixtures(path: string, refs: FixtureRefs = {}): FixtureCaseResult[] {
  const results: FixtureCaseResult[] = [];
  const catalogs = new Map<string, Catalog>();
  const engines = new Map<string, PolicyEngine>();
  for (const file of listFixtureFiles(path)) {
    const dir = dirname(file);
    const at = (p: string) => (isAbsolute(p) ? p : join(dir, p));
    const basesFile = join(dir, '_bases.json');
    const bases = (existsSync(basesFile) ? readJson(basesFile) : {}) as { principals?: Record<string, Json>; bases?: Record<string, Json> };
    const doc = readJson(file);
    if (!isObject(doc) || !Array.isArray(doc['cases'])) throw invalid(file, 'expected an object with `cases`');

    const catalogOf = (ref: Json | undefined): { catalog: Catalog; key: string } => {
      let key: string;
      let load: () => Catalog;
      if (ref === undefined || ref === 'support-desk') [key, load] = [`file:${SAMPLE_DIR}/catalog.yaml`, () => loadCatalogFile(join(SAMPLE_DIR, 'catalog.yaml'))];
      else if (ref === 'workspace') {
        const ws = refs.workspace;
        if (ws === undefined) throw invalid(file, '`"workspace"` needs a configured workspace');
        [key, load] = [`file:${ws.catalogPath}`, () => loadCatalogFile(ws.catalogPath)];
      } else if (typeof ref === 'string') [key, load] = [`file:${at(ref)}`, () => loadCatalogFile(at(ref))];
      else [key, load] = [JSON.stringify(ref), () => defineCatalog(ref, `fixture catalog in ${basename(file)}`)];
      let catalog = catalogs.get(key);
      if (catalog === undefined) catalogs.set(key, (catalog = load()));
      return { catalog, key };
    };
    const policiesOf = (ref: Json | undefined): { defaults: boolean; sources: readonly PolicySource[]; key: string } => {
      if (ref === undefined || ref === 'support-desk') return { defaults: true, sources: readPolicyDir(join(SAMPLE_DIR, 'policies')), key: 'support-desk' };
      if (ref === 'workspace') {
        if (refs.workspace === undefined) throw invalid(file, '`"workspace"` needs a configured workspace');
        return { defaults: true, sources: readPolicyDir(refs.workspace.policiesDir), key: `dir:${refs.workspace.policiesDir}` };
      }
      if (typeof ref === 'string') return { defaults: true, sources: readPolicyDir(at(ref)), key: `dir:${at(ref)}` };
      if (!isObject(ref)) throw invalid(file, '`policies` must be "support-desk", "workspace", a folder, or { defaults, sources }');
      return { defaults: ref['defaults'] !== false, sources: (ref['sources'] ?? []) as unknown as PolicySource[], key: JSON.stringify(ref) };
    };
    const principal = (v: Json | undefined): Json | undefined => {
      if (typeof v !== 'string') return v;
      const p = bases.principals?.[v];
      if (p === undefined) throw invalid(file, `unknown fixture principal \`${v}\` (not in _bases.json)`);
      return p;
    };

    const { catalog, key: catalogKey } = catalogOf(doc['catalog']);
    for (const raw of doc['cases'] as Json[]) {
      if (!isObject(raw)) throw invalid(file, 'each case must be an object');
      const name = String(raw['name']);
      const policies = policiesOf(raw['policies'] ?? doc['policies']);
      const base = typeof raw['base'] === 'string' ? bases.bases?.[raw['base']] : {};
      if (base === undefined) throw invalid(file, `case \`${name}\`: unknown base \`${String(raw['base'])}\``);
      const merged = deepMerge(base, raw['facts']) as { [key: string]: Json };
      merged['actor'] = principal(merged['actor']) ?? null;
      merged['onBehalfOf'] = principal(merged['onBehalfOf']) ?? null;
      const facts = FactsSchema.safeParse(merged);
      if (!facts.success) throw invalid(file, `case \`${name}\` has invalid facts: ${facts.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      const expected = raw['expected'] as unknown as FixtureCaseResult['expected'];
      if (!isObject(raw['expected'] as Json) || typeof expected.outcome !== 'string') throw invalid(file, `case \`${name}\` has no \`expected.outcome\``);

      const engineKey = `${catalogKey}\u0000${policies.key}`;
      let engine = engines.get(engineKey);
      if (engine === undefined) {
        engine = createPolicyEngine({ catalog, policies: loadPolicies({ catalog, sources: policies.sources, defaults: policies.defaults }) });
        engines.set(engineKey, engine);
      }
      const d = engine.decide(facts.data);
      const mismatches: string[] = [];
      if (d.outcome !== expected.outcome) mismatches.push(`outcome: expected ${expected.outcome}, got ${d.outcome}`);
      const want = [...(expected.determiningPolicies ?? [])].sort();
      if (JSON.stringify(want) !== JSON.stringify(d.determiningPolicies)) mismatches.push(`determining policies: expected [${want.join(', ')}], got [${d.determiningPolicies.join(', ')}]`);
      if (expected.obligations !== undefined) mismatches.push(...obligationMismatches(readExpectedObligations(file, name, expected.obligations), d.obligations));
      results.push({
        file: basename(file),
        name,
        passed: mismatches.length === 0,
        expected,
        actual: { outcome: d.outcome, determiningPolicies: d.determiningPolicies, obligations: d.obligations, reasons: d.reasons, errors: d.errors },
        mismatches,
      });
    }
  }
  if (results.length === 0) {
    throw new WritError(CoreErrors.INVALID_INPUT, `no decision fixtures in \`${resolve(path)}\`: expected \`*.json\` files with \`cases\``, {
      details: { issues: [{ path: resolve(path), code: 'empty', message: 'holds no fixture cases' }] },
    });
  }
  return results;
}
