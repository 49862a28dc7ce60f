// A stand-in for an EHR's FHIR server, for `cdsr-adapter subscribe`: fastify on 127.0.0.1 (port 0),
// answering /metadata with the CapabilityStatement it is given and keeping Subscriptions
// (search by url, create, update, delete); it records every request as it came. A test can make
// any request fail with the answer it chooses, or leave it unanswered until the client gives up.
import Fastify from 'fastify';

export type Json = Record<string, unknown>;

export interface RecordedRequest {
  readonly method: string;
  /** Path and query as sent, e.g. `/fhir/Subscription?url=…`. */
  readonly url: string;
  readonly contentType?: string;
  readonly authorization?: string;
  readonly accept?: string;
  readonly body?: unknown;
}

export interface StubAnswer {
  readonly status: number;
  readonly body: string;
  readonly contentType?: string;
}

export interface FhirStub {
  /** The FHIR base, `http://127.0.0.1:<port>/fhir`. */
  readonly base: string;
  readonly requests: RecordedRequest[];
  /** The Subscriptions it holds, by id. */
  readonly subscriptions: Map<string, Json>;
  /** Other resources it serves by `Type/id` (GET [base]/Type/id), for the adapter's id-only fetches. */
  readonly resources: Map<string, Json>;
  /** The answer to the next matching requests instead of the normal one (undefined: normal). */
  override: ((r: RecordedRequest) => StubAnswer | 'hang' | undefined) | undefined;
  close(): Promise<void>;
}

const endpointOf = (r: Json): string | undefined => (typeof r.endpoint === 'string' ? r.endpoint : (r.channel as { endpoint?: string } | undefined)?.endpoint);

export async function startFhirStub(capabilityStatement: unknown): Promise<FhirStub> {
  const app = Fastify({ logger: false });
  const requests: RecordedRequest[] = [];
  const subscriptions = new Map<string, Json>();
  const resources = new Map<string, Json>();
  let next = 1;
  const stub: FhirStub = { base: '', requests, subscriptions, resources, override: undefined, close: () => app.close() };
  app.addContentTypeParser(['application/fhir+json', 'application/json'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? undefined : (JSON.parse(body as string) as unknown));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  app.addHook('preHandler', async (req, reply) => {
    const h = req.headers;
    const rec: RecordedRequest = {
      method: req.method,
      url: req.url,
      ...(h['content-type'] !== undefined ? { contentType: h['content-type'] } : {}),
      ...(h.authorization !== undefined ? { authorization: h.authorization } : {}),
      ...(h.accept !== undefined ? { accept: h.accept } : {}),
      ...(req.body !== undefined ? { body: req.body } : {}),
    };
    requests.push(rec);
    const o = stub.override?.(rec);
    if (o === 'hang') {
      // no answer: held until the client gives up and drops the connection
      await new Promise((ok) => req.raw.socket.once('close', ok));
      reply.hijack();
    } else if (o)
      await reply
        .code(o.status)
        .type(o.contentType ?? 'application/fhir+json')
        .send(o.body);
  });
  const fhir = (reply: { code(n: number): { type(t: string): { send(b: string): unknown } } }, status: number, body: unknown) =>
    reply.code(status).type('application/fhir+json').send(JSON.stringify(body));
  app.get('/fhir/metadata', async (_req, reply) => fhir(reply, 200, capabilityStatement));
  app.get<{ Querystring: { url?: string } }>('/fhir/Subscription', async (req, reply) => {
    const hits = [...subscriptions.values()].filter((s) => req.query.url === undefined || endpointOf(s) === req.query.url);
    return fhir(reply, 200, {
      resourceType: 'Bundle',
      type: 'searchset',
      total: hits.length,
      entry: hits.map((resource) => ({ fullUrl: `${stub.base}/Subscription/${String(resource.id)}`, resource })),
    });
  });
  app.post('/fhir/Subscription', async (req, reply) => {
    const id = `sub-${next++}`;
    const stored = { ...(req.body as Json), id };
    subscriptions.set(id, stored);
    return fhir(reply, 201, stored);
  });
  app.put<{ Params: { id: string } }>('/fhir/Subscription/:id', async (req, reply) => {
    const stored = { ...(req.body as Json), id: req.params.id };
    subscriptions.set(req.params.id, stored);
    return fhir(reply, 200, stored);
  });
  app.delete<{ Params: { id: string } }>('/fhir/Subscription/:id', async (req, reply) => {
    const had = subscriptions.delete(req.params.id);
    return fhir(reply, had ? 200 : 404, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: had ? 'information' : 'error', code: had ? 'informational' : 'not-found', diagnostics: had ? 'deleted' : 'no such Subscription' }],
    });
  });
  app.get<{ Params: { type: string; id: string } }>('/fhir/:type/:id', async (req, reply) => {
    const r = resources.get(`${req.params.type}/${req.params.id}`);
    return fhir(reply, r ? 200 : 404, r ?? { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
  });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  (stub as { base: string }).base = `${address}/fhir`;
  return stub;
}
