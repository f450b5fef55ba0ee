// Reader ACLs: which reader keys a principal holds, and the SQL that keeps a search inside
// the documents it may read. Used by both searches and by the final re-check.
import type { Principal } from '../core/index.js';
import type { RetrievalFilters } from './types.js';

/**
 * The reader keys that grant `principal` access: its id, `group:NAME` for each group, and
 * `*` (documents readable by the whole tenant).
 */
export function readerKeysOf(principal: Principal): string[] {
  // INVARIANT: a principal's own id never matches a group reader (PrincipalSchema refuses
  // such ids; this also holds for a Principal built without it).
  const own = principal.id.startsWith('group:') ? [] : [principal.id];
  return [...own, ...principal.groups.map((g) => `group:${g}`), '*'];
}

/** A WHERE fragment over `documents d` plus its parameters. */
export interface SqlCondition {
  /** Per-row test (EXISTS on readers): cheap when a search already narrowed the rows. */
  readonly sql: string;
  readonly params: unknown[];
  /**
   * The readable documents as a FROM clause (alias `d`) that drives from the reader index,
   * plus its WHERE: cheap when enumerating a small readable set.
   */
  readonly enumFrom: string;
  readonly enumSql: string;
  readonly enumParams: unknown[];
}

/**
 * Condition on `documents d`: same tenant, active, readable by one of `keys`, and inside
 * the filters (which can only narrow).
 */
export function readableDocumentCondition(tenant: string, keys: readonly string[], filters: RetrievalFilters | undefined): SqlCondition {
  // INVARIANT: tenant, status and reader membership are part of every search's WHERE, so a
  // search never ranks (let alone returns) a chunk its asker may not read.
  const parts = [
    'd.tenant = ?',
    "d.status = 'active'",
    'EXISTS (SELECT 1 FROM document_readers r WHERE r.document_id = d.id AND r.reader IN (SELECT value FROM json_each(?)))',
  ];
  const params: unknown[] = [tenant, JSON.stringify(keys)];
  const rest: string[] = [];
  const restParams: unknown[] = [];
  if (filters?.labels && filters.labels.length > 0) {
    rest.push('(SELECT count(DISTINCT l.value) FROM json_each(d.labels) l WHERE l.value IN (SELECT value FROM json_each(?))) = ?');
    const unique = [...new Set(filters.labels)];
    restParams.push(JSON.stringify(unique), unique.length);
  }
  if (filters?.documentIds) {
    rest.push('d.id IN (SELECT value FROM json_each(?))');
    restParams.push(JSON.stringify(filters.documentIds));
  }
  if (filters?.sourcePrefix !== undefined) {
    rest.push('substr(d.source_uri, 1, ?) = ?');
    restParams.push(filters.sourcePrefix.length, filters.sourcePrefix);
  }
  return {
    sql: [...parts, ...rest].join(' AND '),
    params: [...params, ...restParams],
    enumFrom:
      '(SELECT DISTINCT r.document_id AS id FROM document_readers r WHERE r.reader IN (SELECT value FROM json_each(?))) x CROSS JOIN documents d ON d.id = x.id',
    enumSql: ['d.tenant = ?', "d.status = 'active'", ...rest].join(' AND '),
    enumParams: [JSON.stringify(keys), tenant, ...restParams],
  };
}
