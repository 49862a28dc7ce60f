// The one answer to an error at the HTTP edge. Whatever fails (a handler throwing an
// AdapterError, a route schema refusing the input, fastify refusing the body, a failure of ours,
// a route that does not exist) becomes one AdapterError, whose code gives its HTTP status
// (cdsr/errors.ts), and is answered in the shape of the surface that was asked:
//   /api/* (and /metrics, /auth/*):  JSON { code, error, ...details }   (error: the message; field when it names one)
//   /healthz, /readyz:               JSON { status: 'unavailable', code, error }
//   /fhir, /fhir/*:                  an OperationOutcome (issue.code by status, details.coding: our code)
//   /hl7v2:                          an HL7 ACK, AR, with an ERR naming our code
//   /ui, /ui/*:                      the console's HTML error page
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AdapterError, ERRORS, type ErrorCode, type ErrorDetails } from '../cdsr/errors.js';
import { buildAck } from '../hl7v2/ack.js';
import { html } from './console/html.js';
import { unknownParamsMessage } from './query.js';
import type { Need } from './roles.js';
import { errorAnswer, healthErrorAnswer, outcomeErrorAnswer, textAnswer, type JsonSchema } from './schema.js';

/** The code system of our error codes in an OperationOutcome's issue.details.coding. */
export const ERROR_CODE_SYSTEM = 'urn:cdsr-adapter:error-code';

export type Surface = 'api' | 'health' | 'fhir' | 'hl7v2' | 'ui';

/** Which surface a request path belongs to (its path, without the query string). */
export function surfaceOf(url: string): Surface {
  const path = url.split('?')[0] ?? '';
  const under = (p: string) => path === p || path.startsWith(`${p}/`);
  if (under('/hl7v2')) return 'hl7v2';
  if (under('/fhir')) return 'fhir';
  if (under('/ui')) return 'ui';
  if (path === '/healthz' || path === '/readyz') return 'health';
  return 'api';
}

export interface EdgeContext {
  /** CDSR_BODY_LIMIT_BYTES, named in the answer to a body over it. */
  readonly bodyLimit: number;
  /** The content types the routes take, named in the answer to another. */
  readonly contentTypes: string;
  readonly clock: () => Date;
}

/** A failure of fastify's own (its errors carry a statusCode and a FST_ code). */
interface FrameworkError {
  readonly code?: string;
  readonly statusCode?: number;
  readonly validation?: readonly { instancePath?: string; params?: { missingProperty?: string; additionalProperty?: string } }[];
  readonly validationContext?: string;
}

/** Anything thrown at a request, as one of our errors (never with a framework's or driver's text, which may quote a value). */
export function edgeError(err: unknown, req: FastifyRequest, ctx: EdgeContext): AdapterError {
  if (err instanceof AdapterError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as FrameworkError;
  if (e.validation !== undefined) return validationError(req, e);
  if (e.statusCode === 413)
    return new AdapterError('BODY_TOO_LARGE', `request body larger than the limit of ${ctx.bodyLimit} bytes (CDSR_BODY_LIMIT_BYTES)`, { cause: err });
  if (e.statusCode === 415) return new AdapterError('UNSUPPORTED_MEDIA_TYPE', `unsupported content type; ${ctx.contentTypes}`, { cause: err });
  if (e.statusCode === 404) return new AdapterError('ROUTE_NOT_FOUND', undefined, { cause: err });
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)
    return new AdapterError('REQUEST_UNREADABLE', `the request cannot be read (${code ?? `HTTP ${e.statusCode}`})`, { cause: err });
  return new AdapterError('INTERNAL', undefined, { cause: err });
}

/** A route schema refusing the input: named (the unknown query parameters, else what failed where), with the field. */
function validationError(req: FastifyRequest, e: FrameworkError): AdapterError {
  const context = e.validationContext;
  const first = e.validation?.[0];
  if (context === 'querystring') {
    const declared = (req.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
    const query = req.query as Record<string, unknown>;
    const unknown = Object.keys(query).filter((k) => !(k in declared));
    if (unknown.length > 0)
      return new AdapterError('BAD_REQUEST', unknownParamsMessage(unknown, Object.keys(declared)), { details: { field: unknown.join(', ') } });
    const twice = Object.entries(query)
      .filter(([, v]) => Array.isArray(v))
      .map(([k]) => k);
    if (twice.length > 0) return new AdapterError('BAD_REQUEST', `${twice.join(', ')} may be given once`, { details: { field: twice.join(', ') } });
    return new AdapterError('BAD_REQUEST', 'a query parameter cannot be read (each is given once, as text)');
  }
  const where = [first?.instancePath?.replace(/^\//, '').replaceAll('/', '.'), first?.params?.missingProperty ?? first?.params?.additionalProperty]
    .filter((x) => x !== undefined && x !== '')
    .join('.');
  return new AdapterError('BAD_REQUEST', `the request's ${context ?? 'input'} does not match the route's schema`, {
    details: where !== '' ? { field: `${context ?? 'input'}.${where}` } : {},
  });
}

/** The message an error is answered with: a failure of ours by its code only (its own text stays in the log). */
function answeredMessage(e: AdapterError): string {
  if (e.status === 503) return ERRORS[e.code].message;
  if (e.status >= 500) return `the adapter failed on this request (${e.code === 'INTERNAL' ? (frameworkCode(e.cause) ?? 'INTERNAL') : e.code}); see its log`;
  return e.message;
}

/** The code a framework or driver error carries (FST_…, a PostgreSQL SQLSTATE): safe to name, unlike its text. */
function frameworkCode(cause: unknown): string | undefined {
  const c = (cause as { code?: unknown } | null | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** The JSON answer of the API: `{ code, error, ...details }`. */
export function apiErrorBody(e: AdapterError): { code: ErrorCode; error: string } & ErrorDetails {
  return { code: e.code, error: answeredMessage(e), ...(e.status < 500 ? e.details : {}) };
}

/** FHIR issue type (the IssueType value set) of an HTTP status. */
export function fhirIssueType(status: number): string {
  const types: Readonly<Record<number, string>> = {
    400: 'invalid',
    401: 'login',
    403: 'forbidden',
    404: 'not-found',
    409: 'conflict',
    413: 'too-long',
    415: 'not-supported',
    429: 'throttled',
    503: 'transient',
  };
  return types[status] ?? (status >= 500 ? 'exception' : 'processing');
}

export function fhirErrorBody(e: AdapterError): Record<string, unknown> {
  const message = answeredMessage(e);
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: fhirIssueType(e.status),
        details: { coding: [{ system: ERROR_CODE_SYSTEM, code: e.code }], text: message },
        diagnostics: `${e.code}: ${message}`,
        ...(e.field !== undefined && e.status < 500 ? { expression: [e.field] } : {}),
      },
    ],
  };
}

export function hl7ErrorAck(e: AdapterError, now: Date): string {
  return buildAck({
    code: 'AR',
    problems: [{ code: e.code, message: answeredMessage(e), severity: 'error', scope: 'file', path: '' }],
    now,
    ackControlId: 'CDSR0',
  });
}

const PAGE_TITLE: Readonly<Record<number, string>> = {
  400: 'The request cannot be answered',
  401: 'Sign in first',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Not possible now',
  429: 'Too many wrong keys',
  503: 'Not available now',
};

/** The console's error page: standalone (no session is assumed), with the console's style sheet. */
export function consoleErrorPage(e: AdapterError): string {
  const title = PAGE_TITLE[e.status] ?? (e.status >= 500 ? 'The adapter failed' : 'The request cannot be answered');
  const next = e.code === 'SESSION_REQUIRED' ? html`<a href="/ui/login">Sign in</a>` : html`<a href="/ui">Back to the console</a>`;
  return `<!doctype html>\n${
    html`<html lang="en"><head><meta charset="utf-8"><title>${title} · cdsr-adapter</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/ui/assets/console.css"></head>
<body><main id="main"><h1>${title}</h1>
<p class="bad" role="alert">${answeredMessage(e)}</p>
<p class="muted">HTTP ${e.status} · ${e.code}</p>
<p>${next}</p></main></body></html>`.text
  }\n`;
}

export const ACK_TYPE = 'x-application/hl7-v2+er7';

/** Answers an error in the shape of the surface asked (see the top of this file); logs a failure of ours by its code. */
export function answerError(err: unknown, req: FastifyRequest, reply: FastifyReply, ctx: EdgeContext): FastifyReply {
  const e = edgeError(err, req, ctx);
  // codes only: a framework or driver message may quote the URL or a value
  if (e.status >= 500) req.log.error({ err: { code: e.code, status: e.status, cause: causeCode(e) } }, 'request failed');
  void reply.code(e.status);
  if (e.code === 'UNAUTHENTICATED') void reply.header('www-authenticate', 'Bearer');
  if (e.code === 'TOO_MANY_FAILURES' && typeof e.details['retryAfter'] === 'number') void reply.header('retry-after', String(e.details['retryAfter']));
  switch (surfaceOf(req.url)) {
    case 'hl7v2':
      return reply.type(ACK_TYPE).send(hl7ErrorAck(e, ctx.clock()));
    case 'fhir':
      return reply.type('application/fhir+json').send(fhirErrorBody(e));
    case 'ui':
      return reply.type('text/html; charset=utf-8').send(consoleErrorPage(e));
    case 'health':
      return reply.type('application/json; charset=utf-8').send({ status: 'unavailable', ...apiErrorBody(e) });
    case 'api':
      return reply.type('application/json; charset=utf-8').send(apiErrorBody(e));
  }
}

/** What an error wraps (a driver's, the runtime's), for the log: its code, else its kind. */
function causeCode(e: AdapterError): string | undefined {
  return frameworkCode(e.cause) ?? (e.cause instanceof Error ? e.cause.name : undefined);
}

/** The schema of an error answer on each surface that documents its routes (the console's pages document none). */
const ERROR_SCHEMA: Readonly<Record<Exclude<Surface, 'ui'>, JsonSchema>> = {
  api: errorAnswer,
  health: healthErrorAnswer,
  fhir: outcomeErrorAnswer,
  hl7v2: textAnswer('an ACK, AR, whose ERR names the error code'),
};

/**
 * The errors any route may answer besides the ones it declares, with their schema, for its
 * documentation (and the tests that check answers against it): 400 for a route that reads input,
 * 401 and 403 for a route behind a key, 413 and 415 for a route that takes a body, 500 and 503 for all.
 */
export function edgeErrorAnswers(method: string, url: string, role: Need | undefined): Record<number, JsonSchema> {
  const surface = surfaceOf(url);
  if (surface === 'ui') return {};
  const schema = ERROR_SCHEMA[surface];
  const statuses = [500, 503];
  if (surface === 'api' || surface === 'fhir' || surface === 'hl7v2' || url.includes(':')) statuses.push(400);
  if (role !== 'open') statuses.push(401, 403, 429);
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') statuses.push(400, 413, 415);
  return Object.fromEntries(statuses.map((s) => [s, { ...schema, description: `${schema['description'] as string}: ${EDGE_CODES[s] ?? ''}` }]));
}

/** The codes of each status the edge answers for any route (a route's own errors are in its own declarations). */
const EDGE_CODES: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST, JSON_SYNTAX, REQUEST_UNREADABLE',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  429: 'TOO_MANY_FAILURES (with Retry-After)',
  413: 'BODY_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  500: 'INTERNAL, or the code of the failure of ours',
  503: 'STORE_UNAVAILABLE',
};
