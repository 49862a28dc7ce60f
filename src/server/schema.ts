// Route schemas, declared beside each route: small builders for the JSON Schema fastify takes
// (params, querystring, body, response), so a route reads as one declaration. Query parameters
// are strict: one a route does not declare is answered 400 naming it (see app.ts).
import type { FastifySchema } from 'fastify';
import type { Need } from './roles.js';

export type JsonSchema = { readonly [k: string]: unknown };

export const str = (description: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'string', description, ...extra });
export const int = (description: string): JsonSchema => ({ type: 'integer', description });
export const bool = (description: string): JsonSchema => ({ type: 'boolean', description });
export const arr = (items: JsonSchema, description?: string): JsonSchema => ({ type: 'array', items, ...(description !== undefined ? { description } : {}) });
/** An object; properties not listed may be present (answers are serialised whole, never cut to the schema). */
export const obj = (properties: Record<string, JsonSchema>, description?: string, required?: readonly string[]): JsonSchema => ({
  type: 'object',
  properties,
  additionalProperties: true,
  ...(description !== undefined ? { description } : {}),
  ...(required && required.length > 0 ? { required } : {}),
});
/** A map of names to values of one schema (counts by status, say). */
export const dict = (values: JsonSchema, description?: string): JsonSchema => ({
  type: 'object',
  additionalProperties: values,
  ...(description !== undefined ? { description } : {}),
});
export const nullable = (s: JsonSchema): JsonSchema => ({ ...s, nullable: true });
export const anyValue = (description: string): JsonSchema => ({ description });

/** The query string: these parameters (all optional text; the handler reads and checks them), no others. */
export function query(params: Record<string, string>): JsonSchema {
  return { type: 'object', properties: Object.fromEntries(Object.entries(params).map(([k, d]) => [k, str(d)])), additionalProperties: false };
}

/** Path parameters, all required text. */
export function params(ps: Record<string, string>): JsonSchema {
  return {
    type: 'object',
    properties: Object.fromEntries(Object.entries(ps).map(([k, d]) => [k, str(d)])),
    required: Object.keys(ps),
    additionalProperties: false,
  };
}

/** Every error of the API, whatever the route (server/error-answer.ts): its code (cdsr/errors.ts), the message, and details (the field it concerns). */
export const errorAnswer = obj(
  {
    code: str('the error code (BAD_REQUEST, NOT_FOUND…); its HTTP status is the code’s'),
    error: str('what is wrong'),
    field: str('the query parameter, path or body member concerned'),
    retryAfter: int('TOO_MANY_FAILURES: seconds until this address may present a key again (as the Retry-After header)'),
  },
  'an error',
  ['code', 'error'],
);
/** An error of /healthz and /readyz: the API's error, with `status: unavailable` for probes that read it. */
export const healthErrorAnswer = obj(
  {
    status: { type: 'string', enum: ['unavailable'], description: 'unavailable' },
    code: str('the error code (STORE_UNAVAILABLE)'),
    error: str('what is wrong'),
  },
  'not ready',
  ['status', 'code', 'error'],
);
export const textAnswer = (description: string): JsonSchema => ({ type: 'string', description });
/** An error of the FHIR routes: an OperationOutcome whose issue names our code in details.coding (server/error-answer.ts). */
export const outcomeErrorAnswer = obj(
  {
    resourceType: { type: 'string', enum: ['OperationOutcome'], description: 'OperationOutcome' },
    issue: arr(
      obj(
        {
          severity: str('error'),
          code: str('the FHIR issue type (invalid, login, forbidden, not-found, too-long, not-supported, transient, exception)'),
          details: obj(
            {
              coding: arr(obj({ system: str('urn:cdsr-adapter:error-code'), code: str('the error code') }, undefined, ['system', 'code'])),
              text: str('the message'),
            },
            undefined,
            ['coding'],
          ),
          diagnostics: str('CODE: the message'),
          expression: arr(str('the field concerned')),
        },
        undefined,
        ['severity', 'code', 'details'],
      ),
    ),
  },
  'an error, as an OperationOutcome',
  ['resourceType', 'issue'],
);

/** The schema of a route: a summary, its inputs and its answers by status. */
export interface RouteDoc extends FastifySchema {
  readonly summary: string;
  readonly tags?: readonly string[];
  /** A body documented, not validated (text read by the route's own parser: ER7, FHIR JSON). */
  readonly bodyDoc?: JsonSchema;
  /** Content types of the body (default application/json). */
  readonly consumes?: readonly string[];
  /** Content type of the answers (default application/json). */
  readonly produces?: readonly string[];
  readonly response: Readonly<Record<number, JsonSchema>>;
}

/**
 * A route's options: the role a key needs to call it (read by the key check in app.ts; 'open': no
 * key asked) and its schema. Every route declares its role: the app refuses to start otherwise.
 */
export const route = (role: Need, doc: RouteDoc): { schema: RouteDoc; config: { role: Need } } => ({ schema: doc, config: { role } });

export const cursorPage = (key: string, item: JsonSchema): JsonSchema =>
  obj({ [key]: arr(item), next: nullable(str('the `after` of the next page; null on the last page')) }, undefined, [key, 'next']);

export const PAGING = { limit: 'page size, 1 to 1,000 (default 100)', after: 'the `next` of the previous page' } as const;
