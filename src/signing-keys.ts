// Rotating a home's signing key on the record: the new key is made inside the write
// transaction that appends `keyring.rotated`, so a home whose database is locked refuses the
// rotation before any key changes, and two rotations take turns. If the transaction fails
// after the keyring changed (the record could not be written), the rotation is taken back.
import { CoreErrors, WritError, KeyringErrors, isWritError, type Keyring, type KeyPurpose, type KeyRotation } from './core/index.js';
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
  // Inside a caller's transaction this would be a savepoint: a rollback of the caller's
  // transaction after it returned would leave the rotation without its record.
  if (store.db.inTransaction) {
    const message = 'rotateSigningKey runs its own transaction: call it outside one (a rollback of yours would leave the rotation without its record)';
    throw new WritError(CoreErrors.INVALID_INPUT, message, { details: { issues: [{ path: 'store', code: 'custom', message }] } });
  }
  let rotation: KeyRotation | undefined;
  try {
    return store.transaction(() => {
      rotation = keyring.rotateKey();
      const { kid: activeKid, previousKid: retiredKid } = rotation;
      // On the ledger: an auditor sees when signatures changed keys, and which.
      const entry = ledger.append({
        kind: 'keyring.rotated',
        subjectId: `keyring:${keyring.purpose}`,
        tenant: null,
        body: { keyring: keyring.purpose, activeKid, retiredKid },
      });
      return { keyring: keyring.purpose, activeKid, retiredKid, entry };
    });
  } catch (err) {
    // A rotation that failed after putting its manifest in place says so in its error.
    rotation ??= isWritError(err) && err.details.installed === true ? (err.details.rotation as KeyRotation | undefined) : undefined;
    if (rotation === undefined) throw err;
    // INVARIANT: a rotation is on the ledger, or it did not happen.
    let undone = false;
    let why = 'the keyring moved on since (another rotation)';
    try {
      undone = keyring.undoRotation(rotation);
    } catch (e) {
      why = (e as Error).message;
    }
    if (undone) throw err;
    throw new WritError(
      KeyringErrors.KEYS_ROTATION_UNRECORDED,
      `the ${keyring.purpose} key was rotated to \`${rotation.kid}\` but its ledger record could not be written (${(err as Error).message}), and the rotation could not be taken back: ${why}`,
      { cause: err, details: { keyring: keyring.purpose, activeKid: rotation.kid, retiredKid: rotation.previousKid, undo: why } },
    );
  }
}
