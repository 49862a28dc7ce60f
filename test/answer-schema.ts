// Answers checked against the schemas their routes declare (src/server/schema.ts): the route
// tests' server (test/server.ts) checks every JSON answer of a route that declares a response
// schema — its errors too, which have one shape for the whole API (errorAnswer) — so an answer that
// drifts from its documented shape fails the test that received it. The checker knows the JSON
// Schema the builders write (type, properties, required, additionalProperties, items, nullable,
// enum); a schema using anything else is refused, so nothing passes unchecked.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errorAnswer, healthErrorAnswer, type JsonSchema } from '../src/server/schema.js';
import { surfaceOf } from '../src/server/error-answer.js';

const KNOWN = new Set(['type', 'properties', 'required', 'additionalProperties', 'items', 'nullable', 'enum', 'description']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Where `value` does not match `schema`, as `$.path: what` lines (none when it matches). */
export function schemaMismatches(schema: JsonSchema, value: unknown, at = '$'): string[] {
  const unknown = Object.keys(schema).filter((k) => !KNOWN.has(k));
  if (unknown.length > 0) throw new Error(`${at}: the answer checker does not know ${unknown.join(', ')}: teach it (test/answer-schema.ts)`);
  if (value === null && schema['nullable'] === true) return [];
  const enumOf = schema['enum'] as readonly unknown[] | undefined;
  if (enumOf !== undefined && !enumOf.includes(value)) return [`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(enumOf)}`];
  const type = schema['type'] as string | undefined;
  if (type === undefined) return [];
  const actual = typeOf(value);
  if (actual !== type && !(type === 'number' && actual === 'integer')) return [`${at}: ${actual} where the schema says ${type}`];
  if (type === 'array') {
    const items = schema['items'] as JsonSchema | undefined;
    return items === undefined ? [] : (value as unknown[]).flatMap((v, i) => schemaMismatches(items, v, `${at}[${i}]`));
  }
  if (type !== 'object') return [];
  const obj = value as Record<string, unknown>;
  const props = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
  const extra = schema['additionalProperties'] as boolean | JsonSchema | undefined;
  const out = ((schema['required'] ?? []) as string[]).filter((k) => !(k in obj)).map((k) => `${at}.${k}: required, absent`);
  for (const [k, v] of Object.entries(obj)) {
    const p = props[k];
    if (p !== undefined) out.push(...schemaMismatches(p, v, `${at}.${k}`));
    else if (extra === false) out.push(`${at}.${k}: not in the schema`);
    else if (typeof extra === 'object') out.push(...schemaMismatches(extra, v, `${at}.${k}`));
  }
  return out;
}

/** The schema an answer must match: the route's for that status, else the one error shape of its surface (API, health). */
export function answerSchema(
  url: string,
  response: Readonly<Record<string, JsonSchema>> | undefined,
  status: number,
): { schema: JsonSchema } | { undeclared: true } | undefined {
  const surface = surfaceOf(url);
  const declared = response?.[String(status)];
  if (declared !== undefined) return { schema: declared };
  if (status >= 400 && surface === 'api') return { schema: errorAnswer };
  if (status >= 400 && surface === 'health') return { schema: healthErrorAnswer };
  // a route that documents its answers documents each status it gives (the console's pages document none)
  if (response !== undefined && surface !== 'ui') return { undeclared: true };
  return undefined;
}

/** What is wrong with one answer, against the schema of its route (none when it matches or nothing is declared). */
export function answerMismatches(
  url: string,
  response: Readonly<Record<string, JsonSchema>> | undefined,
  status: number,
  contentType: string,
  body: string,
  produces: readonly string[] = [],
): string[] {
  const which = answerSchema(url, response, status);
  if (which === undefined) return [];
  if ('undeclared' in which) return [`HTTP ${status} is not among the statuses the route declares (${Object.keys(response ?? {}).join(', ')})`];
  const { schema } = which;
  if (schema['type'] === 'string' || schema['type'] === undefined) return [];
  const type = contentType.split(';')[0]!.trim();
  // a route that offers another type besides JSON (CSV) answers it when asked: the schema is the JSON one's
  if (!/[/+]json$/.test(type) && produces.includes(type)) return [];
  if (!/[/+]json$/.test(type)) return [`the schema says JSON (${JSON.stringify(schema['type'])}); the answer is ${contentType || 'untyped'}`];
  let value: unknown;
  try {
    value = JSON.parse(body) as unknown;
  } catch {
    return ['the answer is not JSON'];
  }
  return schemaMismatches(schema, value);
}

/** A header the test server sets on each request, to find the check of its answer. */
export const CHECK_HEADER = 'x-test-answer-check';

/**
 * Checks every answer of `app` against its route's declared schema (call before `ready`); the
 * mismatches of a request are kept under its CHECK_HEADER value (or '' for requests without one).
 */
export function checkAnswers(app: FastifyInstance): Map<string, string[]> {
  const found = new Map<string, string[]>();
  app.addHook('onSend', (req: FastifyRequest, reply, payload, done) => {
    const { response, produces } = (req.routeOptions.schema ?? {}) as { response?: Record<string, JsonSchema>; produces?: readonly string[] };
    const type = String(reply.getHeader('content-type') ?? '');
    const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '';
    const wrong = answerMismatches(req.url, response, reply.statusCode, type, body, produces);
    if (wrong.length > 0) {
      const key = String(req.headers[CHECK_HEADER] ?? '');
      found.set(key, [...(found.get(key) ?? []), `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]} → ${reply.statusCode}: ${wrong.join('; ')}`]);
    }
    done(null, payload);
  });
  return found;
}
