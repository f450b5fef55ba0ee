// Error codes of authentication (who is calling), kept apart from authorization (the broker).
import { defineErrors } from '../core/index.js';

export const AuthErrors = defineErrors('auth', {
  AUTH_MISSING_KEY: {
    status: 401,
    meaning: 'the request carries no API key',
    fix: 'send `Authorization: Bearer writ_…` with a key from `writ keys create --principal ID`',
  },
  AUTH_INVALID_KEY: {
    status: 401,
    meaning: 'the API key is malformed, unknown, revoked, or its principal is disabled',
    fix: 'check the key; create a new one with `writ keys create --principal ID`',
  },
  AUTH_FORBIDDEN: {
    status: 403,
    meaning: 'the authenticated principal may not use this operation (e.g. an agent approving)',
    fix: 'use a key of a principal that holds the needed kind or role',
  },
  AUTH_UNKNOWN_PRINCIPAL: {
    status: 404,
    meaning: 'a key was requested for a principal that is not registered',
    fix: 'register the principal first (workspace `principals` file or the broker API)',
  },
});
