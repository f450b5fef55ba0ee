// Front door of core: canonical JSON, hashing, time, ids, typed errors and config.
export { canonicalJson, type JsonValue } from './canonical-json.js';
export { sha256Hex, sealOf } from './hash.js';
export { type Clock, systemClock, nowIso, toUtcIso, normalizeTime, isPast } from './time.js';
export { newId, isIdOf, randomBase64url, ID_PREFIXES, type IdPrefix } from './ids.js';
export { WritError, CoreErrors, defineErrors, listErrorCodes, isWritError, type ErrorSpec, type InputIssue } from './errors.js';
export { loneSurrogateAt, loneSurrogateProblem, rejectIllFormedText } from './well-formed.js';
export { parseInput, toInputIssues } from './validate.js';
export { ConfigSchema, ENV_SETTINGS, loadConfig, type Config, type ConfigInput } from './config.js';
export { createLogger, type Logger } from './logger.js';
export { onShutdown, runShutdown, shutdownHookCount, type ShutdownHook } from './shutdown.js';
export { PrincipalSchema, PrincipalIdSchema, PrincipalKindSchema, NameSchema, type Principal, type PrincipalKind } from './principal.js';
export {
  openKeyring,
  loadPublicKeys,
  verifyWithJwks,
  kidOf,
  KeyringErrors,
  KEY_PURPOSES,
  type Keyring,
  type KeyringOptions,
  type KeyPurpose,
  type KeyInfo,
  type KeyRotation,
  type PublicJwk,
  type PublicJwks,
  type Signature,
  type SignatureVerifier,
} from './keyring.js';
export { signingBackend, type SignerBackend } from './ed25519-signer.js';
export { WRIT_VERSION, WRIT_NAME, PACKAGE_ROOT } from './version.js';
export { createTokenBucket, type TokenBucket } from './token-bucket.js';
