// Error codes of the HTTP layer.
import { defineErrors } from '../core/index.js';

export const ServerErrors = defineErrors('server', {
  SERVER_NOT_FOUND: {
    status: 404,
    meaning: 'no route answers this method and path',
    fix: 'check the path against `/openapi.json`',
  },
  SERVER_LISTEN_FAILED: {
    status: 500,
    meaning: 'the HTTP server could not listen on the configured host and port',
    fix: 'choose a free port with `WRIT_PORT` (0 picks one), or stop the process holding it',
  },
});
