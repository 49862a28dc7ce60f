// `cdsr-adapter subscribe`: the Subscription that makes the EHR's FHIR server send its
// ServiceRequests and Encounters to the adapter's /fhir, created (once: a second run finds it),
// shown or removed, with fhir-kit-client. The form follows the server's FHIR version (its
// CapabilityStatement): R4 and R4B in the Subscriptions backport form, R5 natively
// (fhir/subscription.ts). The send key the EHR puts in every notification, and the token the
// command shows the EHR, come from environment variables only, and are never printed.
import { Client } from 'fhir-kit-client';
import { AdapterError, errorMessage } from '../cdsr/errors.js';
import {
  buildSubscription,
  differences,
  FilterSyntaxError,
  maskHeader,
  maskSubscription,
  PAYLOAD_CONTENTS,
  parseCriteria,
  readCapabilities,
  readSubscription,
  sameEndpoint,
  type FhirRelease,
  type PayloadContent,
  type ServerCapabilities,
  type SubscriptionSettings,
  type SubscriptionView,
} from '../fhir/subscription.js';
import { renderTable } from './table.js';
import { EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE, type CliIo } from './validate.js';

export const FHIR_VERSIONS = ['auto', 'R4', 'R4B', 'R5'] as const;
export type FhirVersionOption = (typeof FHIR_VERSIONS)[number];

export interface SubscribeOptions {
  readonly fhirServer?: string;
  readonly endpoint?: string;
  readonly topic?: string;
  readonly filter?: readonly string[];
  readonly payload?: string;
  readonly fhirVersion?: string;
  readonly show?: boolean;
  readonly remove?: boolean;
  readonly dryRun?: boolean;
  /** The variable holding the adapter's send key (default CDSR_SUBSCRIPTION_KEY). */
  readonly keyEnv?: string;
  /** The variable holding the EHR server's bearer token (default FHIR_SERVER_TOKEN). */
  readonly tokenEnv?: string;
  /** Per request, in ms (default 15 000). */
  readonly timeoutMs?: number;
}

export const DEFAULT_KEY_ENV = 'CDSR_SUBSCRIPTION_KEY';
export const DEFAULT_TOKEN_ENV = 'FHIR_SERVER_TOKEN';
export const SUBSCRIPTION_REASON = 'cdsr-adapter: imaging orders (ServiceRequest) and their Encounters for the ACR CDSR registry';

/** What went wrong, for the message and for tests: each kind says what to do. */
export type SubscribeFailure = 'usage' | 'unreachable' | 'not-fhir' | 'version' | 'no-backport' | 'no-topic' | 'auth' | 'refused' | 'duplicates';

export class SubscribeError extends AdapterError {
  constructor(
    readonly kind: SubscribeFailure,
    message: string,
    options?: { cause?: unknown; httpStatus?: number },
  ) {
    super('FHIR_SUBSCRIBE', message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.httpStatus = options?.httpStatus;
  }

  /** The server's HTTP status, when it answered. */
  readonly httpStatus: number | undefined;
}

/** The endpoint the EHR will call: https, or http on loopback only (the key would cross the network in clear). */
export function checkEndpoint(endpoint: string): URL {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new SubscribeError(
      'usage',
      `--endpoint ${JSON.stringify(endpoint)} is not a URL: give the adapter's public /fhir URL, e.g. https://cdsr.example.org/fhir`,
    );
  }
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback))
    throw new SubscribeError(
      'usage',
      `--endpoint ${u.href} is not https: the EHR sends the send key with every notification, so the endpoint must be https (http only on loopback, for a test)`,
    );
  if (u.username !== '' || u.password !== '')
    throw new SubscribeError('usage', '--endpoint carries credentials in the URL: the key goes in the channel header (--key-env)');
  return u;
}

interface Conn {
  readonly client: Client;
  readonly base: string;
  readonly tokenEnv: string;
  readonly hasToken: boolean;
  readonly timeoutMs: number;
}

/** The OperationOutcome's issue texts, `severity code: text` each. */
function outcomeText(data: unknown): string | undefined {
  const o = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : undefined;
  if (o?.resourceType !== 'OperationOutcome' || !Array.isArray(o.issue)) return undefined;
  const texts = (o.issue as unknown[]).flatMap((i) => {
    const issue = typeof i === 'object' && i !== null ? (i as Record<string, unknown>) : {};
    const details = typeof issue.details === 'object' && issue.details !== null ? (issue.details as Record<string, unknown>) : {};
    const text = typeof issue.diagnostics === 'string' ? issue.diagnostics : typeof details.text === 'string' ? details.text : undefined;
    const severity = typeof issue.severity === 'string' ? issue.severity : 'error';
    const code = typeof issue.code === 'string' ? issue.code : '';
    return [`${severity} ${code}${text !== undefined ? `: ${text}` : ''}`.replace(/ +:/, ':')];
  });
  return texts.length > 0 ? texts.join('; ') : undefined;
}

/** One request to the EHR's server, its failure made a SubscribeError that says what to do. */
async function call<T>(conn: Conn, what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  try {
    return await run(AbortSignal.timeout(conn.timeoutMs));
  } catch (e) {
    const response = (e as { response?: { status?: unknown; data?: unknown } }).response;
    if (response && typeof response.status === 'number') {
      const status = response.status;
      if (status === 401)
        throw new SubscribeError(
          'auth',
          `${conn.base} answered 401 to ${what}: ${conn.hasToken ? `the token in ${conn.tokenEnv} was refused (expired?)` : `no token was sent: set ${conn.tokenEnv} (or name another variable with --token-env) to a bearer token the EHR's FHIR server accepts`}`,
          { cause: e },
        );
      if (status === 403)
        throw new SubscribeError(
          'auth',
          `${conn.base} answered 403 to ${what}: the token in ${conn.tokenEnv} may not do this (it needs the right to read and write Subscription)`,
          {
            cause: e,
          },
        );
      // fhir-kit-client throws on a 2xx whose body is not JSON: not a FHIR answer
      if (status < 300)
        throw new SubscribeError(
          'not-fhir',
          `${conn.base} answered ${what} with HTTP ${status} and a body that is not JSON: is --fhir-server the FHIR base URL?`,
          {
            cause: e,
            httpStatus: status,
          },
        );
      const outcome = outcomeText(response.data);
      throw new SubscribeError('refused', `${conn.base} refused ${what} (HTTP ${status})${outcome !== undefined ? `: ${outcome}` : ''}`, {
        cause: e,
        httpStatus: status,
      });
    }
    if ((e as { name?: unknown }).name === 'TimeoutError')
      throw new SubscribeError('unreachable', `${conn.base} did not answer ${what} in ${conn.timeoutMs} ms: check --fhir-server and the network`, { cause: e });
    const cause = (e as { cause?: unknown }).cause;
    const why = cause !== undefined ? errorMessage(cause) : errorMessage(e);
    throw new SubscribeError('unreachable', `cannot reach the FHIR server at ${conn.base} for ${what} (${why}): check --fhir-server and the network`, {
      cause: e,
    });
  }
}

async function capabilities(conn: Conn): Promise<ServerCapabilities> {
  let cs: unknown;
  try {
    cs = await call(conn, 'GET metadata', (signal) => conn.client.capabilityStatement({ signal }));
  } catch (e) {
    // no /metadata there (404, 405…): not a FHIR base URL
    if (e instanceof SubscribeError && e.kind === 'refused')
      throw new SubscribeError('not-fhir', `${e.message}: is --fhir-server the FHIR base URL (the one /metadata is under)?`, {
        cause: e,
        ...(e.httpStatus !== undefined ? { httpStatus: e.httpStatus } : {}),
      });
    throw e;
  }
  const read = readCapabilities(cs);
  if (!read) {
    const type = typeof cs === 'object' && cs !== null ? (cs as { resourceType?: unknown }).resourceType : undefined;
    throw new SubscribeError(
      'not-fhir',
      `${conn.base}/metadata is not a CapabilityStatement (${typeof type === 'string' ? `a ${type}` : 'no resourceType'}): is --fhir-server the FHIR base URL?`,
    );
  }
  return read;
}

/** The form to build: the one asked for, or the server's. */
function releaseFor(caps: ServerCapabilities, asked: FhirVersionOption, base: string): FhirRelease {
  if (asked !== 'auto') return asked;
  if (!caps.release)
    throw new SubscribeError(
      'version',
      `${base} is FHIR ${caps.fhirVersion !== '' ? caps.fhirVersion : '(no fhirVersion)'}: subscribe takes R4 (4.0.x), R4B (4.3.x) and R5 (5.0.x)`,
    );
  if (caps.release !== 'R5' && caps.backport.length === 0)
    throw new SubscribeError(
      'no-backport',
      `${base} is FHIR ${caps.fhirVersion} (${caps.release}) and its CapabilityStatement shows no sign of the Subscriptions R5 Backport (no backport-subscription profile, SubscriptionTopic or advertised topic): ask the EHR team whether it takes topic-based Subscriptions; if it does, run again with --fhir-version ${caps.release}`,
    );
  return caps.release;
}

/** The topic: the one given, else the one the server advertises. */
function topicFor(caps: ServerCapabilities, given: string | undefined, base: string): string {
  if (given !== undefined) {
    if (!/^(https?|urn):\S+$/.test(given))
      throw new SubscribeError(
        'usage',
        `--topic ${JSON.stringify(given)} is not a canonical URL (e.g. http://ehr.example.org/SubscriptionTopic/imaging-order)`,
      );
    return given;
  }
  if (caps.topics.length === 1) return caps.topics[0]!;
  throw new SubscribeError(
    'no-topic',
    caps.topics.length === 0
      ? `${base} advertises no SubscriptionTopic in its CapabilityStatement: give --topic, the canonical URL of the EHR's topic for ServiceRequest (imaging order) changes`
      : `${base} advertises ${caps.topics.length} SubscriptionTopics (${caps.topics.join(', ')}): give --topic with the one for ServiceRequest (imaging order) changes`,
  );
}

/** Pages of Subscriptions read at most (a search that goes on past them is refused, not cut short). */
export const MAX_PAGES = 50;

/** The Subscriptions at the server that point at the endpoint (and at the topic, when given). */
async function existing(conn: Conn, endpoint: string, topic: string | undefined): Promise<{ view: SubscriptionView }[]> {
  const found: { view: SubscriptionView }[] = [];
  let page: unknown;
  try {
    page = await call(conn, `GET Subscription?url=${endpoint}`, (signal) =>
      conn.client.search({ resourceType: 'Subscription', searchParams: { url: endpoint }, options: { signal } }),
    );
  } catch (e) {
    // a server without the url search parameter: every Subscription, filtered here
    if (!(e instanceof SubscribeError && e.httpStatus === 400)) throw e;
    page = await call(conn, 'GET Subscription', (signal) => conn.client.search({ resourceType: 'Subscription', options: { signal } }));
  }
  const origin = new URL(conn.base).origin;
  for (let pages = 1; ; pages++) {
    const bundle = typeof page === 'object' && page !== null ? (page as { entry?: unknown; link?: unknown }) : {};
    for (const e of Array.isArray(bundle.entry) ? (bundle.entry as unknown[]) : []) {
      const view = readSubscription(typeof e === 'object' && e !== null ? (e as { resource?: unknown }).resource : undefined);
      if (view && sameEndpoint(view.endpoint, endpoint) && (topic === undefined || view.topic === topic)) found.push({ view });
    }
    const link = Array.isArray(bundle.link) ? (bundle.link as unknown[]) : [];
    const next = link.flatMap((l) => {
      const x = typeof l === 'object' && l !== null ? (l as { relation?: unknown; url?: unknown }) : {};
      return x.relation === 'next' && typeof x.url === 'string' ? [x.url] : [];
    })[0];
    if (next === undefined) return found;
    let at: URL;
    try {
      at = new URL(next, conn.base);
    } catch {
      throw new SubscribeError('refused', `${conn.base} gave a next page that is not a URL (${JSON.stringify(next)}): not followed`);
    }
    // the token goes to the server's own origin only
    if (at.origin !== origin) throw new SubscribeError('refused', `${conn.base} gave a next page on another host (${at.origin}): not followed`);
    if (pages >= MAX_PAGES)
      throw new SubscribeError(
        'refused',
        `${conn.base} has more than ${MAX_PAGES} pages of Subscriptions for this search: not all could be read, so nothing was changed`,
      );
    page = await call(conn, 'GET the next page of Subscriptions', (signal) => conn.client.request(at.href, { options: { signal } }));
  }
}

const describeView = (v: SubscriptionView): string =>
  `Subscription/${v.id} (status ${v.status || '(none)'}, topic ${v.topic}, payload ${v.content || '(none)'}${v.criteria.length > 0 ? `, filters ${v.criteria.join(' & ')}` : ''})`;

/**
 * Whether a DEBUG value turns on fhir-kit-client's log, read as the debug package reads it: names
 * split on spaces and commas, `*` for any text, `-name` turning one off.
 */
export function debugLogsFhirKit(debug: string): boolean {
  const patterns = debug.split(/[\s,]+/).filter((p) => p !== '');
  const re = (p: string) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  const on = (name: string) =>
    !patterns.some((p) => p.startsWith('-') && re(p.slice(1)).test(name)) && patterns.some((p) => !p.startsWith('-') && re(p).test(name));
  return on('fhir-kit-client:info') || on('fhir-kit-client:error');
}

export async function runSubscribe(o: SubscribeOptions, env: Readonly<Record<string, string | undefined>>, rawIo: CliIo): Promise<number> {
  // the send key and the EHR's token never printed, whatever quotes them (a server's
  // OperationOutcome or Subscription.error may echo the channel header back)
  const secrets = [env[o.keyEnv ?? DEFAULT_KEY_ENV], env[o.tokenEnv ?? DEFAULT_TOKEN_ENV]].filter((v): v is string => v !== undefined && v.length >= 4);
  const scrub = (text: string) => secrets.reduce((t, v) => t.split(v).join('****'), text);
  const io: CliIo = { ...rawIo, out: (t: string) => rawIo.out(scrub(t)), err: (t: string) => rawIo.err(scrub(t)) };
  try {
    return await subscribe(o, env, io);
  } catch (e) {
    if (!(e instanceof SubscribeError)) throw e;
    io.err(`cdsr-adapter subscribe: ${e.message}\n`);
    return EXIT_UNREADABLE;
  }
}

async function subscribe(o: SubscribeOptions, env: Readonly<Record<string, string | undefined>>, io: CliIo): Promise<number> {
  const serverUrl = o.fhirServer ?? env.FHIR_SERVER_URL;
  if (serverUrl === undefined || serverUrl === '') throw new SubscribeError('usage', "give --fhir-server, the EHR's FHIR base URL (or set FHIR_SERVER_URL)");
  let base: string;
  try {
    const u = new URL(serverUrl);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
    base = u.href.replace(/\/+$/, '');
  } catch {
    throw new SubscribeError('usage', `--fhir-server ${JSON.stringify(serverUrl)} is not an http(s) URL`);
  }
  if (o.endpoint === undefined)
    throw new SubscribeError('usage', "give --endpoint, the adapter's public /fhir URL the EHR will call (e.g. https://cdsr.example.org/fhir)");
  const endpoint = checkEndpoint(o.endpoint).href.replace(/\/+$/, '');
  if (o.show === true && o.remove === true) throw new SubscribeError('usage', '--show and --remove do not go together: list first, then remove');
  const payload = o.payload ?? 'full-resource';
  if (!(PAYLOAD_CONTENTS as readonly string[]).includes(payload)) throw new SubscribeError('usage', `--payload must be one of ${PAYLOAD_CONTENTS.join(', ')}`);
  const asked = o.fhirVersion ?? 'auto';
  if (!(FHIR_VERSIONS as readonly string[]).includes(asked)) throw new SubscribeError('usage', `--fhir-version must be one of ${FHIR_VERSIONS.join(', ')}`);
  const criteria = o.filter ?? [];
  try {
    for (const c of criteria) parseCriteria(c);
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw new SubscribeError('usage', `--filter: ${e.message}`);
    throw e;
  }
  // fhir-kit-client's debug log prints request headers (the token) and error bodies (the key)
  if (debugLogsFhirKit(env.DEBUG ?? ''))
    throw new SubscribeError('usage', "DEBUG enables fhir-kit-client's request log, which would print the token and the key: unset DEBUG for this command");
  const tokenEnv = o.tokenEnv ?? DEFAULT_TOKEN_ENV;
  const keyEnv = o.keyEnv ?? DEFAULT_KEY_ENV;
  const token = env[tokenEnv];
  const hasToken = token !== undefined && token !== '';
  const conn: Conn = {
    client: new Client({ baseUrl: base, ...(hasToken ? { bearerToken: token } : {}) }),
    base,
    tokenEnv,
    hasToken,
    timeoutMs: o.timeoutMs ?? 15_000,
  };
  if (!endpoint.endsWith('/fhir'))
    io.err(
      `cdsr-adapter subscribe: warning: --endpoint ${endpoint} does not end in /fhir, the adapter's FHIR endpoint (right only behind a proxy that maps it there)\n`,
    );

  const caps = await capabilities(conn);
  const release = releaseFor(caps, asked as FhirVersionOption, base);
  const form = release === 'R5' ? 'R5' : `${release} backport`;

  if (o.show === true || o.remove === true) {
    const subs = await existing(conn, endpoint, o.topic);
    if (o.show === true) {
      // nothing there, or one the EHR stopped, is something to act on: exit 1
      if (subs.length === 0) {
        io.out(`no Subscription at ${base} points at ${endpoint}${o.topic !== undefined ? ` for topic ${o.topic}` : ''}\n`);
        return EXIT_PROBLEMS;
      }
      io.out(`${subs.length} Subscription(s) at ${base} point at ${endpoint} (FHIR ${caps.fhirVersion}):\n`);
      io.out(
        renderTable(
          ['ID', 'STATUS', 'TOPIC', 'PAYLOAD', 'FILTERS', 'HEADERS', 'ERROR'],
          subs.map(({ view: v }) => [v.id, v.status, v.topic, v.content, v.criteria.join(' & '), v.headers.map(maskHeader).join(', '), v.error ?? '']),
        ),
      );
      return subs.some((x) => x.view.status === 'error' || x.view.status === 'off') ? EXIT_PROBLEMS : EXIT_OK;
    }
    if (o.dryRun === true) {
      io.out(
        `dry run: would delete ${subs.length} Subscription(s) at ${base} pointing at ${endpoint}${subs.length > 0 ? `: ${subs.map((s) => `Subscription/${s.view.id}`).join(', ')}` : ''}\n`,
      );
      return EXIT_OK;
    }
    for (const s of subs)
      await call(conn, `DELETE Subscription/${s.view.id}`, (signal) =>
        conn.client.delete({ resourceType: 'Subscription', id: s.view.id, options: { signal } }),
      );
    io.out(
      `deleted ${subs.length} Subscription(s) at ${base} pointing at ${endpoint}${subs.length > 0 ? `: ${subs.map((s) => `Subscription/${s.view.id}`).join(', ')}` : ' (none pointed at it)'}\n`,
    );
    return EXIT_OK;
  }

  const key = env[keyEnv];
  if (key === undefined || key === '')
    throw new SubscribeError(
      'usage',
      `set ${keyEnv} (or name another variable with --key-env) to one of the adapter's send keys (CDSR_SEND_API_KEYS): the EHR sends it with every notification`,
    );
  if (/[\r\n]/.test(key)) throw new SubscribeError('usage', `${keyEnv} holds a line break: a header value cannot`);
  const topic = topicFor(caps, o.topic, base);
  const settings: SubscriptionSettings = {
    release,
    endpoint,
    topic,
    criteria,
    content: payload as PayloadContent,
    header: `Authorization: Bearer ${key}`,
    reason: SUBSCRIPTION_REASON,
  };
  const wanted = buildSubscription(settings);
  const wantedView = readSubscription(wanted)!;
  const same = await existing(conn, endpoint, topic);
  if (same.length > 1)
    throw new SubscribeError(
      'duplicates',
      `${same.length} Subscriptions at ${base} already point at ${endpoint} for topic ${topic} (${same.map((s) => `Subscription/${s.view.id}`).join(', ')}): run with --remove, then create again`,
    );
  const found = same[0];
  const changes = found ? differences(found.view, wantedView) : [];
  const printed = (r: Record<string, unknown>) => `${JSON.stringify(maskSubscription(r), null, 2)}\n`;
  if (found && changes.length === 0) {
    io.out(`${describeView(found.view)} already points at ${endpoint} with these settings: nothing changed\n`);
    return EXIT_OK;
  }
  if (found) {
    const body = { ...wanted, id: found.view.id };
    if (o.dryRun === true) {
      io.out(`dry run: would update ${describeView(found.view)} at ${base} (${form} form): ${changes.join('; ')}\n${printed(body)}`);
      return EXIT_OK;
    }
    const r = await call(conn, `PUT Subscription/${found.view.id}`, (signal) =>
      conn.client.update({ resourceType: 'Subscription', id: found.view.id, body, options: { signal } }),
    );
    const v = readSubscription(r);
    io.out(`updated Subscription/${found.view.id} at ${base} (${form} form): ${changes.join('; ')}; status ${v?.status || '(not returned)'}\n`);
    return EXIT_OK;
  }
  if (o.dryRun === true) {
    io.out(`dry run: would create at ${base}/Subscription (${form} form, FHIR ${caps.fhirVersion}):\n${printed(wanted)}`);
    return EXIT_OK;
  }
  const created = await call(conn, 'POST Subscription', (signal) => conn.client.create({ resourceType: 'Subscription', body: wanted, options: { signal } }));
  const v = readSubscription(created);
  io.out(
    `created Subscription/${v?.id || '(id not returned)'} at ${base} (${form} form, topic ${topic}, payload ${payload}); status ${v?.status || '(not returned)'}\n` +
      `the EHR makes it active after its handshake reaches ${endpoint}: check with --show\n`,
  );
  return EXIT_OK;
}
