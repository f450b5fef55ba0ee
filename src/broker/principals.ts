// Principals as the broker stores them: users, agents and services of a tenant with their
// groups, roles and attributes. Roles used for approvals always come from here, never
// from the caller's request.
import { PrincipalSchema, WritError, nowIso, parseInput, type Principal } from '../core/index.js';
import type { Db } from '../store/index.js';
import type { BrokerContext } from './context.js';
import { BrokerErrors } from './errors.js';
import { prep } from './records.js';

/** A stored principal and whether it may act. */
export interface PrincipalRecord {
  readonly principal: Principal;
  readonly disabled: boolean;
}

/** A principal row as read: columns in this order, as an array (no object per row). */
type PrincipalRow = [
  id: string,
  kind: Principal['kind'],
  tenant: string,
  displayName: string | null,
  groupsJson: string,
  rolesJson: string,
  onBehalfOf: string | null,
  attributesJson: string,
  disabled: number,
];

const SELECT_PRINCIPAL =
  'SELECT id, kind, tenant, display_name, groups_json, roles_json, on_behalf_of, attributes_json, disabled FROM principals WHERE id = ?';

function toPrincipal(row: PrincipalRow): PrincipalRecord {
  const [id, kind, tenant, displayName, groupsJson, rolesJson, onBehalfOf, attributesJson, disabled] = row;
  // Keys added in RFC 8785 order, the optional ones in their places: a decision's facts
  // carry this principal, and its ledger entry then writes it without a sorted copy.
  const principal: Partial<Principal> = { attributes: JSON.parse(attributesJson) };
  if (displayName !== null) principal.displayName = displayName;
  principal.groups = JSON.parse(groupsJson);
  principal.id = id;
  principal.kind = kind;
  if (onBehalfOf !== null) principal.onBehalfOf = onBehalfOf;
  principal.roles = JSON.parse(rolesJson);
  principal.tenant = tenant;
  return { principal: principal as Principal, disabled: disabled === 1 };
}

/** Reads a stored principal, or undefined. Every request's authentication reads one. */
export function readPrincipal(db: Db, id: string): PrincipalRecord | undefined {
  const row = prep(db, SELECT_PRINCIPAL).raw(true).get(id) as PrincipalRow | undefined;
  return row === undefined ? undefined : toPrincipal(row);
}

/** Every registered principal (with its `disabled` flag), by id. */
export function listPrincipals(db: Db): PrincipalRecord[] {
  return (prep(db, SELECT_PRINCIPAL.replace(' WHERE id = ?', ' ORDER BY id')).raw(true).all() as PrincipalRow[]).map(toPrincipal);
}

/**
 * Registers or updates a principal (admin operation; recorded as `principal.upserted`).
 *
 * @example
 * broker.upsertPrincipal({ id: 'ana', kind: 'user', tenant: 'acme', roles: ['finance'] });
 */
export function upsertPrincipal(ctx: BrokerContext, input: unknown, options: { disabled?: boolean; requestId?: string } = {}): Principal {
  const principal = parseInput(PrincipalSchema, input, 'principal');
  const at = nowIso(ctx.clock);
  const disabled = options.disabled ?? false;
  return ctx.store.transaction((db) => {
    const existing = readPrincipal(db, principal.id);
    if (existing !== undefined && existing.principal.tenant !== principal.tenant) {
      throw new WritError(BrokerErrors.BROKER_TENANT_MISMATCH, `principal \`${principal.id}\` belongs to another tenant`, {
        details: { principalId: principal.id },
      });
    }
    prep(
      db,
      `INSERT INTO principals (id, kind, tenant, display_name, groups_json, roles_json, on_behalf_of, attributes_json, disabled, created_at, updated_at)
       VALUES (@id, @kind, @tenant, @displayName, @groups, @roles, @onBehalfOf, @attributes, @disabled, @at, @at)
       ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, display_name = excluded.display_name, groups_json = excluded.groups_json,
         roles_json = excluded.roles_json, on_behalf_of = excluded.on_behalf_of, attributes_json = excluded.attributes_json,
         disabled = excluded.disabled, updated_at = excluded.updated_at`,
    ).run({
      id: principal.id,
      kind: principal.kind,
      tenant: principal.tenant,
      displayName: principal.displayName ?? null,
      groups: JSON.stringify(principal.groups),
      roles: JSON.stringify(principal.roles),
      onBehalfOf: principal.onBehalfOf ?? null,
      attributes: JSON.stringify(principal.attributes),
      disabled: disabled ? 1 : 0,
      at,
    });
    ctx.ledger.append({
      kind: 'principal.upserted',
      subjectId: principal.id,
      tenant: principal.tenant,
      actorId: null,
      requestId: options.requestId ?? null,
      body: { principal: principal as never, disabled },
    });
    return principal;
  });
}

/** The stored principal with that id, or undefined. */
export function getPrincipal(ctx: BrokerContext, id: string): Principal | undefined {
  return readPrincipal(ctx.store.db, id)?.principal;
}

/**
 * Resolves the authenticated caller to its stored principal: it must be registered,
 * enabled, and match the caller's tenant and kind. Roles and groups come from the store.
 */
export function requireCaller(db: Db, caller: Principal): Principal {
  return requireCallerRecord(db, caller).principal;
}

/** `requireCaller`, returning the stored record, so later checks in the transaction need not read it again. */
export function requireCallerRecord(db: Db, caller: Principal): PrincipalRecord {
  const stored = readPrincipal(db, caller?.id);
  if (stored === undefined) {
    throw new WritError(BrokerErrors.BROKER_PRINCIPAL_NOT_FOUND, `principal \`${String(caller?.id)}\` is not registered`, {
      details: { principalId: caller?.id ?? null },
    });
  }
  // INVARIANT: the caller's identity is the stored principal; a caller object that disagrees on tenant or kind is refused.
  if (stored.principal.tenant !== caller.tenant || stored.principal.kind !== caller.kind) {
    throw new WritError(BrokerErrors.BROKER_PRINCIPAL_MISMATCH, `caller \`${caller.id}\` does not match its registered principal`, {
      details: { principalId: caller.id },
    });
  }
  if (stored.disabled) {
    throw new WritError(BrokerErrors.BROKER_PRINCIPAL_DISABLED, `principal \`${caller.id}\` is disabled`, { details: { principalId: caller.id } });
  }
  return stored;
}

/** A proposal's actor and the principal it acts for, as stored (undefined when not registered). */
export interface Parties {
  readonly actor: PrincipalRecord | undefined;
  /** Null when the proposal acts for no one. */
  readonly onBehalfOf: PrincipalRecord | undefined | null;
}

/**
 * Reads a proposal's parties once per operation. `known` is a principal this transaction
 * has already read (the caller): it is used as is rather than read again.
 */
export function readParties(db: Db, proposal: { readonly actorId: string; readonly onBehalfOf: string | null }, known?: PrincipalRecord): Parties {
  return {
    actor: readUnlessKnown(db, proposal.actorId, known),
    onBehalfOf: proposal.onBehalfOf === null ? null : readUnlessKnown(db, proposal.onBehalfOf, known),
  };
}

function readUnlessKnown(db: Db, id: string, known: PrincipalRecord | undefined): PrincipalRecord | undefined {
  return known !== undefined && known.principal.id === id ? known : readPrincipal(db, id);
}

/** Ids of the proposal's actor and on-behalf-of principal that are missing or disabled. */
export function disabledParties(proposal: { readonly actorId: string; readonly onBehalfOf: string | null }, parties: Parties): string[] {
  const disabled: string[] = [];
  if (parties.actor?.disabled !== false) disabled.push(proposal.actorId);
  if (proposal.onBehalfOf !== null && parties.onBehalfOf?.disabled !== false) disabled.push(proposal.onBehalfOf);
  return disabled;
}

/**
 * True when `principal` may see `proposal` (and what hangs off it: decisions, approvals,
 * warrants): never another tenant's; people and services follow their tenant's proposal
 * workflow; an agent sees only the proposals it made or that were made on its behalf, so it
 * cannot learn what other agents or people proposed. An operation on a proposal its caller
 * may not see answers as for an unknown id (BROKER_PROPOSAL_NOT_FOUND).
 */
export function maySeeProposal(principal: Principal, proposal: { readonly actorId: string; readonly onBehalfOf: string | null; readonly tenant: string }): boolean {
  // INVARIANT: proposals never cross tenants, and an agent's view is limited to its own.
  if (proposal.tenant !== principal.tenant) return false;
  return principal.kind !== 'agent' || proposal.actorId === principal.id || proposal.onBehalfOf === principal.id;
}
