// API keys: each bound to one stored principal, kept only as a SHA-256 hash. The key
// names its own record (`writ_<keyId>_<secret>`) so lookup is one indexed read, and the
// secret is compared in constant time. Keys carry 256 bits of randomness, so a fast hash
// is enough (no password stretching needed).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { WritError, newId, nowIso, sha256Hex, type Clock, systemClock } from '../core/index.js';
import type { Db, Migration, Store } from '../store/index.js';
import { AuthErrors } from './errors.js';

export const authMigrations: Migration[] = [
  {
    area: 'auth',
    version: 1,
    name: 'api keys',
    up: `CREATE TABLE api_keys (
      id TEXT PRIMARY KEY,
      principal_id TEXT NOT NULL REFERENCES principals (id),
      label TEXT NOT NULL DEFAULT '',
      secret_hash BLOB NOT NULL,
      created_at TEXT NOT NULL,
      last_used_at TEXT,
      revoked_at TEXT
    ) STRICT;
    CREATE INDEX api_keys_principal ON api_keys (principal_id);`,
  },
];

const KEY_PATTERN = /^writ_(key_[0-9A-HJKMNP-TV-Z]{26})_([A-Za-z0-9_-]{43})$/;

/** What `createApiKey` returns: the only time the secret is visible. */
export interface IssuedApiKey {
  readonly id: string;
  readonly principalId: string;
  readonly label: string;
  /** The full key; shown once, stored only as a hash. */
  readonly key: string;
  readonly createdAt: string;
}

export interface ApiKeyInfo {
  readonly id: string;
  readonly principalId: string;
  readonly label: string;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

function hashSecret(secret: string): Buffer {
  // One-shot hash, and a small Buffer from Node's pool: no Hash object per request.
  return Buffer.from(sha256Hex(secret), 'hex');
}

/** Key management over the store; `principalExists` keeps this module free of broker code. */
export interface ApiKeys {
  create(principalId: string, label?: string): IssuedApiKey;
  /** The principal id a key belongs to; throws AUTH_MISSING_KEY / AUTH_INVALID_KEY. */
  authenticate(key: string | undefined): { keyId: string; principalId: string };
  revoke(keyId: string): void;
  list(principalId?: string): ApiKeyInfo[];
}

/**
 * @example
 * const keys = createApiKeys({ store, principalExists: (id) => !!broker.getPrincipal(id) });
 * const { key } = keys.create('ana', 'laptop');
 * keys.authenticate(key).principalId // 'ana'
 */
export function createApiKeys(options: { store: Store; principalExists: (id: string) => boolean; clock?: Clock }): ApiKeys {
  const { store } = options;
  const clock = options.clock ?? systemClock;
  const db: Db = store.db;
  const byId = db.prepare('SELECT principal_id, secret_hash, revoked_at FROM api_keys WHERE id = ?').raw(true);
  const touch = db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?');
  let lastTouch = new Map<string, number>();

  return {
    create(principalId, label = '') {
      if (!options.principalExists(principalId)) {
        throw new WritError(AuthErrors.AUTH_UNKNOWN_PRINCIPAL, `principal \`${principalId}\` is not registered`, { details: { principalId } });
      }
      const id = newId('key');
      const secret = randomBytes(32).toString('base64url');
      const createdAt = nowIso(clock);
      db.prepare('INSERT INTO api_keys (id, principal_id, label, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)').run(
        id,
        principalId,
        label,
        hashSecret(secret),
        createdAt,
      );
      return { id, principalId, label, key: `writ_${id}_${secret}`, createdAt };
    },
    authenticate(key) {
      if (key === undefined || key === '') throw new WritError(AuthErrors.AUTH_MISSING_KEY, 'missing api key');
      const match = KEY_PATTERN.exec(key);
      if (match === null) throw new WritError(AuthErrors.AUTH_INVALID_KEY, 'invalid api key');
      const [, id, secret] = match as unknown as [string, string, string];
      const row = byId.get(id) as [principalId: string, secretHash: Buffer, revokedAt: string | null] | undefined;
      // INVARIANT: a key authenticates only when its secret hash matches and it is not revoked.
      if (row === undefined || row[2] !== null || !timingSafeEqual(row[1], hashSecret(secret))) {
        throw new WritError(AuthErrors.AUTH_INVALID_KEY, 'invalid api key');
      }
      // last_used_at is advisory; write it at most once a minute per key to keep reads cheap.
      const now = clock.now().getTime();
      if ((lastTouch.get(id) ?? 0) < now - 60_000) {
        if (lastTouch.size > 10_000) lastTouch = new Map();
        lastTouch.set(id, now);
        touch.run(new Date(now).toISOString(), id);
      }
      return { keyId: id, principalId: row[0] };
    },
    revoke(keyId) {
      db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(nowIso(clock), keyId);
    },
    list(principalId) {
      const rows = (
        principalId === undefined
          ? db.prepare('SELECT * FROM api_keys ORDER BY id').all()
          : db.prepare('SELECT * FROM api_keys WHERE principal_id = ? ORDER BY id').all(principalId)
      ) as Array<Record<string, string | null>>;
      return rows.map((r) => ({
        id: r.id as string,
        principalId: r.principal_id as string,
        label: r.label as string,
        createdAt: r.created_at as string,
        lastUsedAt: r.last_used_at ?? null,
        revokedAt: r.revoked_at ?? null,
      }));
    },
  };
}
