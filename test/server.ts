// The real app for route tests, with a fixed clock, a fresh SQLite file and a copy of the shipped
// mappings that a test may edit. Requests go through fastify's inject (no socket) unless a test
// asks for a listening port (`listen: true`, for clients that need a URL).
import type { ProfileSummary } from '../src/profile.js';
import type { Admission } from '../src/inbound/admission.js';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { AssertionError } from 'node:assert';
import { createServer } from 'node:net';
import { CdsrValidator } from '../src/cdsr/validate.js';
import type { FhirFetcher } from '../src/fhir/resolve.js';
import { MappingHolder } from '../src/mapping/holder.js';
import { MapPool, type MapPoolOptions } from '../src/inbound/map-pool.js';
import { buildApp } from '../src/server/app.js';
import type { RoleConfig } from '../src/server/roles.js';
import type { Config } from '../src/config.js';
import type { SecuritySetting } from '../src/server/deps.js';
import { openStore } from '../src/store/open.js';
import type { Store } from '../src/store/store.js';
import { REPO_ROOT } from './helpers.js';
import { CHECK_HEADER, checkAnswers } from './answer-schema.js';
import { copyMigratedSqlite } from './sqlite-template.js';

export const SERVER_NOW = new Date('2026-11-23T06:00:00Z');

export interface RequestInit {
  readonly method?: string;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** The address the request comes from (default 127.0.0.1): the key throttle counts per address. */
  readonly remoteAddress?: string;
}

export interface TestServer {
  /** The loopback URL when started with `listen: true`; '' otherwise. */
  readonly url: string;
  /** A request to the app (a path such as `/hl7v2`), answered as fetch answers. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  readonly dir: string;
  readonly mappingsDir: string;
  readonly store: Store;
  readonly mappings: MappingHolder;
  readonly mapPool?: MapPool;
  /** Everything the server logged. */
  logs(): string;
  close(): Promise<void>;
}

export async function startTestServer(
  opts: {
    apiKeys?: string[];
    roles?: RoleConfig;
    bodyLimit?: number;
    fhirFetcher?: FhirFetcher;
    listen?: boolean;
    requestTimeoutS?: number;
    /** Other limits of the HTTP listener (config names). */
    http?: Partial<
      Pick<
        Config,
        'CDSR_HTTP_KEEPALIVE_S' | 'CDSR_HTTP_HEADERS_TIMEOUT_S' | 'CDSR_HTTP_MAX_HEADER_BYTES' | 'CDSR_HTTP_MAX_CONNECTIONS' | 'CDSR_HTTP_MAX_PER_SOURCE'
      >
    >;
    /** Mapping workers (map-pool.ts) with these settings; none by default. */
    mapWorkers?: Partial<Omit<MapPoolOptions, 'mappings'>>;
    /** CDSR_DEFAULT_FACILITY_ID: the Facility_ID of messages whose sender facilities.csv does not know. */
    defaultFacilityId?: string;
    /** CDSR_TIMEZONE (default: none, i.e. UTC). */
    timeZone?: string;
    /** The text of facilities.csv, in place of the repository's. */
    facilities?: string;
    /** A PostgreSQL database for the store (default: a fresh SQLite file in the test's directory). */
    postgresUrl?: string;
    /** Rates per credential and the store's ceiling (default: none). */
    admission?: Admission;
    /** The connection profile in force, as the service shows it (default: none, every transaction). */
    profile?: ProfileSummary;
    /** The app's clock (default: SERVER_NOW, fixed); a test moves it to cross throttle windows and session lifetimes. */
    clock?: () => Date;
    /** The settings of the sign-in's and the console's defences (config names). */
    security?: Partial<Pick<Config, SecuritySetting>>;
  } = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-srv-'));
  const mappingsDir = join(dir, 'mappings');
  cpSync(join(REPO_ROOT, 'mappings'), mappingsDir, { recursive: true });
  if (opts.facilities !== undefined) writeFileSync(join(mappingsDir, 'facilities.csv'), opts.facilities);
  const quiet = { info: () => undefined, warn: () => undefined };
  const mappings = MappingHolder.load(mappingsDir, quiet).holder!;
  // SQLite: a copy of a database migrated once per process (sqlite-template.ts), whose commits do
  // not wait for the disk (synchronous=NORMAL): the routes' tests are about answers and rows, and an
  // fsync per message was much of their time on a busy disk (FULL, the default, is checked in sqlite.int.test.ts)
  if (opts.postgresUrl === undefined) await copyMigratedSqlite(join(dir, 'data', 'db.sqlite'));
  const store = await openStore(
    opts.postgresUrl !== undefined
      ? { kind: 'postgres', url: opts.postgresUrl }
      : { kind: 'sqlite', file: join(dir, 'data', 'db.sqlite'), synchronous: 'NORMAL' },
    new CdsrValidator({
      now: SERVER_NOW,
      valueSets: mappings.current.valueSets,
      fieldLimits: mappings.current.fieldLimits,
      siteRules: mappings.current.siteRules,
    }),
  );
  const mapPool = opts.mapWorkers ? new MapPool({ mappings, size: 1, minBytes: 0, timeoutMs: 60_000, ...opts.mapWorkers }) : undefined;
  let logged = '';
  const logStream = new PassThrough();
  logStream.on('data', (c: Buffer) => (logged += c.toString('utf8')));
  const app = await buildApp({
    config: {
      CDSR_INBOUND_API_KEYS: opts.apiKeys ?? [],
      ...opts.roles,
      CDSR_BODY_LIMIT_BYTES: opts.bodyLimit ?? 1024 * 1024,
      LOG_LEVEL: 'trace',
      ...(opts.requestTimeoutS !== undefined ? { CDSR_HTTP_REQUEST_TIMEOUT_S: opts.requestTimeoutS } : {}),
      ...(opts.timeZone !== undefined ? { CDSR_TIMEZONE: opts.timeZone } : {}),
      ...opts.http,
      ...opts.security,
    },
    store,
    mappings,
    clock: opts.clock ?? (() => SERVER_NOW),
    ...(opts.defaultFacilityId !== undefined ? { defaultFacilityId: opts.defaultFacilityId } : {}),
    logStream,
    ...(mapPool ? { mapPool } : {}),
    ...(opts.fhirFetcher ? { fhirFetcher: opts.fhirFetcher } : {}),
    ...(opts.admission ? { admission: opts.admission } : {}),
    ...(opts.profile ? { profile: opts.profile } : {}),
  });
  // every answer checked against its route's declared schema (test/answer-schema.ts): a mismatch fails the request's test
  const mismatches = checkAnswers(app);
  let requests = 0;
  const url = opts.listen ? await app.listen({ port: 0, host: '127.0.0.1' }) : '';
  if (!opts.listen) await app.ready();
  return {
    url,
    fetch: async (path, init = {}) => {
      const check = String(++requests);
      const r = await app.inject({
        method: (init.method ?? 'GET') as 'GET',
        url: path,
        ...(init.body !== undefined ? { payload: init.body } : {}),
        headers: { ...init.headers, [CHECK_HEADER]: check },
        ...(init.remoteAddress !== undefined ? { remoteAddress: init.remoteAddress } : {}),
      });
      const wrong = mismatches.get(check);
      mismatches.delete(check);
      if (wrong !== undefined) throw new AssertionError({ message: `the answer does not match its route's schema:\n  ${wrong.join('\n  ')}` });
      const headers = new Headers();
      for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : String(v));
      return new Response(r.statusCode === 204 || r.statusCode === 304 ? null : r.rawPayload, { status: r.statusCode, headers });
    },
    dir,
    mappingsDir,
    store,
    mappings,
    ...(mapPool ? { mapPool } : {}),
    logs: () => logged,
    close: async () => {
      await app.close();
      await mapPool?.close();
      await store.close();
      mappings.close();
      rmSync(dir, { recursive: true, force: true });
      // answers to requests over the socket (listen: true) are checked too, here
      const wrong = [...mismatches.values()].flat();
      if (wrong.length > 0) throw new AssertionError({ message: `answers that do not match their route's schema:\n  ${wrong.join('\n  ')}` });
    },
  };
}

/** Runs `fn` with a test server of its own, closed afterwards whatever happens. */
export async function withTestServer(fn: (s: TestServer) => Promise<void>, opts: Parameters<typeof startTestServer>[0] = {}): Promise<void> {
  const s = await startTestServer(opts);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

export async function postHl7(
  s: Pick<TestServer, 'fetch'>,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; type: string }> {
  const r = await s.fetch('/hl7v2', { method: 'POST', body, headers: { 'content-type': 'application/hl7-v2', ...headers } });
  return { status: r.status, text: await r.text(), type: r.headers.get('content-type') ?? '' };
}

export const lines = (ack: string): string[] => ack.split('\r').filter((l) => l !== '');

/** A port nothing listens on right now (for child processes that need a fixed one). */
export function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => ok(p));
    });
  });
}
