// Renders every failure as `{ code, message, details, requestId }` with the code's status.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CoreErrors, WritError, isWritError, toInputIssues, type InputIssue } from '../core/index.js';
import { ServerErrors } from './errors.js';

interface ErrorBody {
  code: string;
  message: string;
  details: Record<string, unknown>;
  requestId: string;
}

/** A Fastify error as a Writ error, and the HTTP status to answer it with. */
interface Translated {
  readonly error: WritError;
  readonly status: number;
}

function fromFastify(err: FastifyError, request: FastifyRequest): Translated {
  // Schema validation by the zod type provider arrives as `validation` issues.
  const validation = (err as FastifyError & { validation?: unknown[] }).validation;
  if (Array.isArray(validation)) {
    const issues = validation.map((v) => {
      const issue = v as { keyword?: string; instancePath?: string; message?: string; params?: { issue?: { path?: PropertyKey[]; code?: string; message?: string } } };
      const zodIssue = issue.params?.issue;
      if (zodIssue) return toInputIssues([zodIssue as never])[0] as InputIssue;
      return {
        path: (issue.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.') || '(root)',
        code: issue.keyword ?? 'invalid',
        message: issue.message ?? 'invalid',
      };
    });
    const first = issues[0];
    const summary = first === undefined ? err.message : `\`${first.path}\`: ${first.message}`;
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    return withOwnStatus(
      new WritError(CoreErrors.INVALID_INPUT, `invalid request ${err.validationContext ?? 'input'}: ${summary}${more}`, {
        details: { issues, in: err.validationContext ?? null },
      }),
    );
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return withOwnStatus(new WritError(ServerErrors.SERVER_BODY_TOO_LARGE, 'request body is too large', { details: { limitBytes: err.message.match(/\d+/)?.[0] ?? null } }));
  }
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const contentType = request.headers['content-type'] ?? null;
    return withOwnStatus(
      new WritError(ServerErrors.SERVER_UNSUPPORTED_MEDIA_TYPE, `unsupported content type \`${contentType ?? '(none)'}\`: send json`, { details: { contentType } }),
    );
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    // Fastify's other client errors (bad JSON, a bad content length…): bad input, answered
    // with Fastify's own status, which travels beside the error and never inside its details.
    const error = new WritError(CoreErrors.INVALID_INPUT, err.message.replace(/\.$/, '').toLowerCase(), {
      details: { issues: [{ path: '(root)', code: err.code ?? 'invalid', message: err.message }] },
    });
    return { error, status: err.statusCode };
  }
  return withOwnStatus(new WritError(CoreErrors.INTERNAL_ERROR, 'internal error', { cause: err }));
}

const withOwnStatus = (error: WritError): Translated => ({ error, status: error.status });

/**
 * Fastify's router refuses some URLs before any hook runs: one whose percent-encoding is
 * not UTF-8 (FST_ERR_BAD_URL) or whose path parameter is longer than the router takes
 * (FST_ERR_MAX_PARAM_LENGTH). They are answered in Writ's shape, with a request id.
 */
export function answerFrameworkError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
  const message = tooLong ? 'a path segment of the url is longer than any id Writ takes' : 'the url path is not valid percent-encoded UTF-8';
  const error = new WritError(CoreErrors.INVALID_INPUT, `invalid request url: ${message}`, {
    details: { issues: [{ path: '(url)', code: err.code ?? 'invalid', message: err.message }] },
  });
  // 400 for both, the status INVALID_INPUT stands for (not Fastify's 414).
  void reply
    .status(400)
    .header('x-request-id', String(request.id))
    .send({ ...error.toJSON(), details: { ...error.details }, requestId: String(request.id) });
}

/** Installs Writ's error and not-found handlers on a fastify instance. */
export function installErrorHandlers(server: FastifyInstance): void {
  server.setErrorHandler((err, request, reply) => {
    const { error, status } = isWritError(err) ? withOwnStatus(err) : fromFastify(err as FastifyError, request);
    if (status >= 500) request.log.error({ err }, 'request failed');
    // `details` is the error's own: a domain field named `status` (a proposal's) stays.
    const body: ErrorBody = { ...error.toJSON(), details: { ...error.details }, requestId: String(request.id) };
    void reply.status(status).send(body);
  });
  server.setNotFoundHandler((request, reply) => {
    const err = new WritError(ServerErrors.SERVER_NOT_FOUND, `no route for \`${request.method} ${request.url.split('?')[0]}\``);
    void reply.status(404).send({ ...err.toJSON(), requestId: String(request.id) });
  });
}
