// Renders every failure as `{ code, message, details, requestId }` with the code's status.
import type { FastifyError, FastifyInstance } from 'fastify';
import { CoreErrors, WritError, isWritError, toInputIssues, type InputIssue } from '../core/index.js';
import { ServerErrors } from './errors.js';

interface ErrorBody {
  code: string;
  message: string;
  details: Record<string, unknown>;
  requestId: string;
}

function fromFastify(err: FastifyError): WritError {
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
    return new WritError(CoreErrors.INVALID_INPUT, `invalid request ${err.validationContext ?? 'input'}: ${summary}${more}`, {
      details: { issues, in: err.validationContext ?? null },
    });
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new WritError(ServerErrors.SERVER_BODY_TOO_LARGE, 'request body is too large', { details: { limitBytes: err.message.match(/\d+/)?.[0] ?? null } });
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    // Fastify's own client errors (bad JSON, body too large, unsupported media type).
    return new WritError(CoreErrors.INVALID_INPUT, err.message.replace(/\.$/, '').toLowerCase(), {
      details: { issues: [{ path: '(root)', code: err.code ?? 'invalid', message: err.message }], status: err.statusCode },
    });
  }
  return new WritError(CoreErrors.INTERNAL_ERROR, 'internal error', { cause: err });
}

/** Installs Writ's error and not-found handlers on a fastify instance. */
export function installErrorHandlers(server: FastifyInstance): void {
  server.setErrorHandler((err, request, reply) => {
    const writErr = isWritError(err) ? err : fromFastify(err as FastifyError);
    if (writErr.status >= 500) request.log.error({ err }, 'request failed');
    // Fastify's own 4xx (e.g. 413 body too large) keep their status.
    const status = typeof writErr.details.status === 'number' ? (writErr.details.status as number) : writErr.status;
    const body: ErrorBody = { ...writErr.toJSON(), details: { ...writErr.details }, requestId: String(request.id) };
    delete body.details.status;
    void reply.status(status).send(body);
  });
  server.setNotFoundHandler((request, reply) => {
    const err = new WritError(ServerErrors.SERVER_NOT_FOUND, `no route for \`${request.method} ${request.url.split('?')[0]}\``);
    void reply.status(404).send({ ...err.toJSON(), requestId: String(request.id) });
  });
}
