// Front door of authentication: API keys that name a stored principal.
export { authMigrations, createApiKeys, type ApiKeys, type IssuedApiKey, type ApiKeyInfo } from './api-keys.js';
export { AuthErrors } from './errors.js';
