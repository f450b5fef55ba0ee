// What every broker operation works with: the store, the ledger, the catalog, the policy
// engine, the evidence reader, the warrant keyring, a clock, the parsed config and the
// prepared texts taint keeps between decisions.
// `createBroker` builds it once; the operation modules take it as their first argument.
import type { Clock } from '../core/index.js';
import type { Keyring } from '../core/index.js';
import type { Ledger } from '../ledger/types.js';
import type { Store } from '../store/index.js';
import type { Catalog } from './catalog.js';
import type { BrokerConfig } from './config.js';
import type { EvidenceReader } from './evidence.js';
import type { Facts } from './facts-schema.js';
import type { TaintTextCache } from './taint.js';

/** What a policy engine answers for one set of facts (see src/broker/policy). */
export interface PolicyVerdict {
  readonly outcome: 'allow' | 'deny' | 'needs_approval';
  readonly determiningPolicies: readonly string[];
  readonly obligations: ReadonlyArray<{ readonly role: string; readonly count: number; readonly satisfied: boolean }>;
  readonly reasons: readonly string[];
  readonly errors: readonly string[];
  readonly policySetHash: string;
}

/** The part of the policy engine the broker calls. Evaluation does no I/O. */
export interface DecisionEngine {
  readonly policySetHash: string;
  decide(facts: Facts): PolicyVerdict;
  /**
   * What `policySetHash` seals, for the ledger's `policy_set.activated` entry (the catalog,
   * the Cedar schema, every policy). An engine without it is recorded by its hash alone.
   */
  describe?(): PolicySetDescription;
}

/** The content of a policy set, as the ledger records it when the set is activated. */
export interface PolicySetDescription {
  readonly catalog: unknown;
  readonly schema: unknown;
  readonly policies: ReadonlyArray<{ readonly id: string; readonly file: string; readonly effect: string; readonly isDefault: boolean; readonly text: string }>;
}

/** The warrant keyring as the broker uses it (a `Keyring` of purpose `warrant`). */
export type WarrantKeyring = Pick<Keyring, 'activeKid' | 'kids' | 'sign' | 'verify' | 'wasActiveAt' | 'publicJwks'>;

export interface BrokerContext {
  readonly store: Store;
  readonly ledger: Ledger;
  readonly catalog: Catalog;
  readonly policyEngine: DecisionEngine;
  readonly evidence: EvidenceReader;
  readonly keyring: WarrantKeyring;
  readonly clock: Clock;
  readonly config: BrokerConfig;
  /** Shown texts taint has prepared, kept between decisions (`config.taintCacheChars`). */
  readonly taintTexts: TaintTextCache;
}
