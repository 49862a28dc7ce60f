// The OpenAPI 3.0 document of the adapter's HTTP API, generated from the route schemas: an onRoute
// hook records every route as it is registered (so a route added anywhere appears without being
// listed here), and GET /api/openapi.json answers the document built from them.
import type { FastifyInstance, RouteOptions } from 'fastify';
import { arr, dict, obj, str, type JsonSchema, type RouteDoc } from './schema.js';

export interface RecordedRoute {
  readonly method: string;
  readonly url: string;
  readonly schema: Partial<RouteDoc> | undefined;
}

/** Starts recording the routes registered after this call (call it before any route). */
export function recordRoutes(app: FastifyInstance): RecordedRoute[] {
  const routes: RecordedRoute[] = [];
  app.addHook('onRoute', (r: RouteOptions) => {
    // the console's pages are for a browser (docs/console.md), not the API
    if (r.url === '/ui' || r.url.startsWith('/ui/')) return;
    for (const method of Array.isArray(r.method) ? r.method : [r.method]) {
      // fastify adds HEAD for every GET: not an operation of ours
      if (method === 'HEAD' && r.exposeHeadRoute !== false && routes.some((x) => x.url === r.url && x.method === 'GET')) continue;
      routes.push({ method, url: r.url, schema: r.schema as Partial<RouteDoc> | undefined });
    }
  });
  return routes;
}

type Operation = Record<string, unknown>;

const pathOf = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function parameters(where: 'path' | 'query', schema: unknown): Operation[] {
  const s = schema as { properties?: Record<string, JsonSchema>; required?: string[] } | undefined;
  return Object.entries(s?.properties ?? {}).map(([name, p]) => {
    const { description, ...rest } = p as { description?: string };
    return {
      name,
      in: where,
      required: where === 'path' || (s?.required ?? []).includes(name),
      ...(description !== undefined ? { description } : {}),
      schema: rest,
    };
  });
}

function operation(r: RecordedRoute): Operation {
  const s = r.schema ?? {};
  const produces = s.produces ?? ['application/json'];
  const responses = Object.fromEntries(
    Object.entries(s.response ?? { 200: {} }).map(([status, schema]) => {
      const d = (schema as { description?: string }).description;
      return [status, { description: d ?? `HTTP ${status}`, content: Object.fromEntries(produces.map((t) => [t, { schema }])) }];
    }),
  );
  const op: Operation = {
    operationId: `${r.method.toLowerCase()}${pathOf(r.url)
      .replace(/[{}]/g, '')
      .replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
    summary: s.summary ?? '',
    ...(s.tags ? { tags: s.tags } : {}),
    parameters: [...parameters('path', s.params), ...parameters('query', s.querystring)],
    responses,
  };
  const body = s.body ?? s.bodyDoc;
  if (body !== undefined) {
    op.requestBody = { required: true, content: Object.fromEntries((s.consumes ?? ['application/json']).map((t) => [t, { schema: body }])) };
  }
  return op;
}

/** The OpenAPI 3.0.3 document of the recorded routes. */
export function openApiDocument(routes: readonly RecordedRoute[], version: string): Record<string, unknown> {
  const byPath = new Map<string, RecordedRoute[]>();
  for (const r of routes) byPath.set(pathOf(r.url), [...(byPath.get(pathOf(r.url)) ?? []), r]);
  const paths: Record<string, Record<string, Operation>> = {};
  for (const [path, rs] of [...byPath.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    paths[path] = Object.fromEntries(rs.map((r) => [r.method.toLowerCase(), operation(r)]));
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'cdsr-adapter',
      version,
      description:
        'Inbound HL7 v2 and FHIR for the ACR CDSR registry, and the operations API. Credentials: Authorization: Bearer <key> or X-API-Key (the role each call needs is in docs/operations.md).',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
    },
    security: [{ bearer: [] }, { apiKey: [] }],
    paths,
  };
}

export const OPENAPI_ANSWER: JsonSchema = obj(
  { openapi: str('3.0.3'), info: obj({}), paths: dict(obj({})), components: obj({}), security: arr(obj({})) },
  'the OpenAPI 3.0 document of this API',
);
