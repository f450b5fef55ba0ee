// Rotating a home's signing key on the record: the new key is made inside the write
// transaction that appends `keyring.rotated`, so a home whose database is locked refuses the
// rotation before any key changes, and two rotations take turns. If the transaction fails
// after the keyring changed (the record could not be written), the rotation is taken back.
import { WritError, KeyringErrors, type Keyring, type KeyPurpose } from './core/index.js';
import type { LedgerApi, LedgerEntry } from './ledger/index.js';
import type { Store } from './store/index.js';

export interface SigningKeyRotation {
  readonly keyring: KeyPurpose;
  /** The key that signs from now on. */
  readonly activeKid: string;
  /** The key it replaced (still verifies what it signed); null if the keyring named none. */
  readonly retiredKid: string | null;
  /** The ledger entry that records the rotation. */
  readonly entry: LedgerEntry;
}

/**
 * Retires the active signing key of `keyring` for a new one and records it on the ledger.
 *
 * @throws the transaction's error (STORE_BUSY, …) with the keyring as it was; or
 *   KEYS_ROTATION_UNRECORDED when the record failed and the rotation could not be taken back.
 * @example
 * const { activeKid, entry } = rotateSigningKey({ store, ledger, keyring: warrantKeyring });
 */
export function rotateSigningKey(parts: { store: Store; ledger: LedgerApi; keyring: Keyring }): SigningKeyRotation {
  const { store, ledger, keyring } = parts;
  let made: string | undefined;
  try {
    return store.transaction(() => {
      made = keyring.rotate();
      // The key this rotation retired, from the manifest it wrote under its own lock.
      const keys = keyring.list();
      const newestRetirement = keys.reduce((at, k) => (k.retiredAt !== null && k.retiredAt > at ? k.retiredAt : at), '');
      const retiredKid = keys.find((k) => k.kid !== made && k.retiredAt === newestRetirement)?.kid ?? null;
      // On the ledger: an auditor sees when signatures changed keys, and which.
      const entry = ledger.append({
        kind: 'keyring.rotated',
        subjectId: `keyring:${keyring.purpose}`,
        tenant: null,
        body: { keyring: keyring.purpose, activeKid: made, retiredKid },
      });
      return { keyring: keyring.purpose, activeKid: made, retiredKid, entry };
    });
  } catch (err) {
    if (made === undefined) throw err;
    // INVARIANT: a rotation is on the ledger, or it did not happen.
    let undone = false;
    let undoError: unknown;
    try {
      undone = keyring.undoRotation(made);
    } catch (e) {
      undoError = e;
    }
    if (undone) throw err;
    throw new WritError(
      KeyringErrors.KEYS_ROTATION_UNRECORDED,
      `the ${keyring.purpose} key was rotated to \`${made}\` but its ledger record could not be written (${(err as Error).message}), and the rotation could not be taken back`,
      { cause: err, details: { keyring: keyring.purpose, activeKid: made, undoError: undoError === undefined ? 'a later rotation made another key active' : (undoError as Error).message } },
    );
  }
}
