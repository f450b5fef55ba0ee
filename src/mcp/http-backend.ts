// The MCP backend over a running Writ server (`writ mcp --server URL`): the same three
// operations as HTTP calls, authenticated with the agent's key. Inputs are checked with the
// same schemas before they are sent, so a bad call fails the same way in both modes.
import { parseInput, WritError } from '../core/index.js';
import type { Catalog } from '../broker/index.js';
import type { RetrievalResult } from '../retrieval/index.js';
import type { McpBackend, McpIdentity } from './backend.js';
import { MCP_SESSION_TTL_MS } from './backend.js';
import { McpErrors } from './errors.js';
import { ProposalStatusToolInputSchema, ProposeToolInputSchema, RetrieveToolInputSchema } from './tools.js';

/** A typed error answered by the Writ server (`{ code, message, details, requestId }`). */
export class RemoteWritError extends Error {
  override readonly name = 'RemoteWritError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details: Readonly<Record<string, unknown>>,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }

  toJSON(): { code: string; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: { ...this.details, ...(this.requestId ? { requestId: this.requestId } : {}) } };
  }
}

export interface HttpBackendOptions {
  /** Base URL of the Writ server, e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  readonly key: string;
  /** Time limit of one HTTP call (default 30 s). */
  readonly timeoutMs?: number;
}

/**
 * Connects to a running Writ server: opens the agent-run session (which also proves the
 * key), then proxies the tools to `/v1/retrieve`, `/v1/proposals` and `/v1/proposals/:id`.
 */
export async function createHttpBackend(options: HttpBackendOptions): Promise<McpBackend> {
  let base: URL;
  try {
    base = new URL(options.url);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new WritError(McpErrors.MCP_REMOTE_FAILED, `\`${options.url}\` is not an http(s) url`, { details: { url: options.url } });
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  // Joined as text, like the CLI's remote mode: `new URL('/v1/…', base)` would drop a path
  // prefix such as `https://host/writ` (a server behind a reverse proxy).
  const root = options.url.replace(/\/+$/, '');

  async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = new URL(`${root}${path}`);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${options.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (cause) {
      throw new WritError(McpErrors.MCP_REMOTE_FAILED, `cannot reach \`${url.origin}\`: ${(cause as Error).message}`, { cause, details: { url: url.href } });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const e = (json ?? {}) as { code?: unknown; message?: unknown; details?: unknown; requestId?: unknown };
      if (typeof e.code === 'string' && typeof e.message === 'string') {
        const details = typeof e.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : {};
        throw new RemoteWritError(e.code, e.message, res.status, details, typeof e.requestId === 'string' ? e.requestId : res.headers.get('x-request-id') ?? undefined);
      }
      throw new WritError(McpErrors.MCP_REMOTE_FAILED, `\`${method} ${url.pathname}\` answered ${res.status} without a writ error`, {
        details: { url: url.href, status: res.status },
      });
    }
    if (json === undefined) {
      throw new WritError(McpErrors.MCP_REMOTE_FAILED, `\`${method} ${url.pathname}\` answered without a json body`, { details: { url: url.href, status: res.status } });
    }
    return json as T;
  }

  const session = await call<{ id: string; actorId: string; tenant: string }>('POST', '/v1/sessions', { ttlMs: MCP_SESSION_TTL_MS });
  const identity: McpIdentity = { principalId: session.actorId, kind: 'remote', tenant: session.tenant, sessionId: session.id };
  // Only to describe the actions to the agent: a server without the route still serves the tools.
  const catalog = await call<Partial<Catalog>>('GET', '/v1/catalog').catch(() => undefined);

  return {
    identity,
    actions: typeof catalog?.actions === 'object' && catalog.actions !== null ? catalog.actions : undefined,
    async retrieve(input) {
      const q = parseInput(RetrieveToolInputSchema, input, 'retrieve');
      const sessionId = q.sessionId ?? session.id;
      const result = await call<RetrievalResult>('POST', '/v1/retrieve', { ...q, sessionId });
      return { ...result, sessionId };
    },
    async propose(input) {
      const p = parseInput(ProposeToolInputSchema, input, 'proposal');
      return call<{ proposal: unknown; decision: unknown }>('POST', '/v1/proposals', { ...p, sessionId: p.sessionId ?? session.id });
    },
    async proposalStatus(input) {
      const { proposalId } = parseInput(ProposalStatusToolInputSchema, input, 'proposal status');
      const got = await call<{ proposal: unknown; decision?: unknown; decisions?: unknown[]; approvals?: unknown }>(
        'GET',
        `/v1/proposals/${encodeURIComponent(proposalId)}`,
      );
      const decision = got.decision ?? (Array.isArray(got.decisions) ? (got.decisions.at(-1) ?? null) : null);
      return { proposal: got.proposal, decision, approvals: got.approvals ?? [] };
    },
    async close() {},
  };
}
