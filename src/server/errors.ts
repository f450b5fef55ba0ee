// Error codes of the HTTP layer.
import { defineErrors } from '../core/index.js';

export const ServerErrors = defineErrors('server', {
  SERVER_NOT_FOUND: {
    status: 404,
    meaning: 'no route answers this method and path',
    fix: 'check the path against `/openapi.json`',
  },
  SERVER_RECORD_NOT_FOUND: {
    status: 404,
    meaning: "no record of that kind and id exists in the caller's tenant (records of other tenants are reported missing too)",
    fix: 'check the id, and that your key belongs to the tenant that owns the record',
  },
  SERVER_TOO_MANY_STREAMS: {
    status: 429,
    meaning: 'the principal already holds as many open live-event streams (SSE and WebSocket together) as one principal may',
    fix: 'close a stream you no longer read, or share one stream between your tools; `details.limit` is the limit',
  },
  SERVER_RATE_LIMITED: {
    status: 429,
    meaning: 'the principal sent more requests than its per-principal rate allows; `details.retryAfterMs` says when to retry',
    fix: 'wait `Retry-After` seconds and retry; raise `WRIT_RATE_PER_SECOND` / `WRIT_RATE_BURST` for heavy clients',
  },
  SERVER_BODY_TOO_LARGE: {
    status: 413,
    meaning: 'the request body is larger than the server accepts',
    fix: 'send a smaller body (split large documents), or raise `WRIT_BODY_LIMIT`',
  },
  SERVER_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    meaning: 'the request body has a content type the route does not read (`details.contentType`); Writ reads JSON bodies',
    fix: 'send the body as JSON with `content-type: application/json`',
  },
  SERVER_UPGRADE_REQUIRED: {
    status: 426,
    meaning: 'a plain HTTP request reached a WebSocket route, which answers only WebSocket upgrades',
    fix: 'open a WebSocket to this URL (`Connection: Upgrade`, `Upgrade: websocket`), or read the same events as Server-Sent Events from `GET /v1/events`',
  },
  SERVER_TIMEOUT: {
    status: 503,
    meaning: 'the request did not finish within the route time limit. A write (any method but GET and HEAD) is not cancelled: it goes on and may still commit (`details.mayStillComplete`); whatever it commits is recorded in the ledger under `details.requestId`',
    fix: 'before sending a write again, look for its entries (`GET /v1/audit/entries?requestId=…` with `details.requestId`), or send it with the same idempotency key; retry reads later; for retrieval pass a smaller `k` or `timeoutMs`; raise `WRIT_ROUTE_TIMEOUT_MS` if requests are legitimately slow',
  },
  SERVER_LISTEN_FAILED: {
    status: 500,
    meaning: 'the HTTP server could not listen on the configured host and port',
    fix: 'choose a free port with `--port`/`WRIT_PORT` (0 picks one) or stop the process holding it; for an address that is not this machine\'s, bind one that is with `--host`/`WRIT_HOST`',
  },
});
