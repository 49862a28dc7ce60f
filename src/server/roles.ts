// Who may do what: each API key has the roles of the variables that list it (a key listed in two
// has both). send: post HL7 and FHIR; view: read the ledger, summaries and counts (no field
// values, no raw messages); operate: everything of view, plus records' field values,
// transactions' bodies, replay, submit and the access audit; metrics: /metrics only. The older
// CDSR_INBOUND_API_KEYS are send + operate. Each route declares the role it needs beside its
// definition (`route(role, doc)` in schema.ts, the console for all its pages in console/plugin.ts);
// requireRoles makes a route that declares none fail the start.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, RouteOptions } from 'fastify';
import type { Config } from '../config.js';

export type Role = 'send' | 'view' | 'operate' | 'metrics';
export type Need = Role | 'open';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The role a key needs to call the route ('open': none asked), declared beside the route. */
    readonly role?: Need;
  }
}

export interface KeyEntry {
  readonly key: Buffer;
  /**
   * How the audit names it: `operate#2` (the 2nd key of CDSR_OPERATE_API_KEYS), never the key; a
   * key listed in several variables is named by each, `send#1+operate#2`.
   */
  readonly label: string;
  readonly roles: ReadonlySet<Role>;
}

export type RoleConfig = Partial<
  Pick<Config, 'CDSR_INBOUND_API_KEYS' | 'CDSR_SEND_API_KEYS' | 'CDSR_OPERATE_API_KEYS' | 'CDSR_VIEW_API_KEYS' | 'CDSR_METRICS_API_KEYS'>
>;

/** What each role may also do: operate includes view, view and operate include metrics. */
const GRANTS: Readonly<Record<Role, readonly Role[]>> = {
  send: ['send'],
  view: ['view', 'metrics'],
  operate: ['operate', 'view', 'metrics'],
  metrics: ['metrics'],
};

/** One entry per distinct key, with the roles of every variable that lists it (and what they include). */
export function keyRing(c: RoleConfig): KeyEntry[] {
  const byKey = new Map<string, { labels: string[]; roles: Set<Role> }>();
  const add = (keys: readonly string[] | undefined, label: string, roles: readonly Role[]) =>
    (keys ?? []).forEach((k, i) => {
      const entry = byKey.get(k) ?? { labels: [], roles: new Set<Role>() };
      byKey.set(k, entry);
      entry.labels.push(`${label}#${i + 1}`);
      for (const r of roles.flatMap((r) => GRANTS[r])) entry.roles.add(r);
    });
  add(c.CDSR_INBOUND_API_KEYS, 'key', ['send', 'operate']);
  add(c.CDSR_SEND_API_KEYS, 'send', ['send']);
  add(c.CDSR_OPERATE_API_KEYS, 'operate', ['operate']);
  add(c.CDSR_VIEW_API_KEYS, 'view', ['view']);
  add(c.CDSR_METRICS_API_KEYS, 'metrics', ['metrics']);
  return [...byKey].map(([k, e]) => ({ key: Buffer.from(k), label: e.labels.join('+'), roles: e.roles }));
}

/** The entry of a presented key, compared in constant time against every configured one. */
export function findKey(ring: readonly KeyEntry[], given: string): KeyEntry | undefined {
  const g = Buffer.from(given);
  let found: KeyEntry | undefined;
  for (const e of ring) if (e.key.length === g.length && timingSafeEqual(e.key, g)) found = e;
  return found;
}

/** The role a route needs, as it declared it; a URL that is no route (the 404 answer) needs operate. */
export function needOf(config: { readonly role?: Need } | undefined): Need {
  return config?.role ?? 'operate';
}

/**
 * Every route registered on `app` from now on must declare its role (`config.role`): the app
 * does not start otherwise (ready() fails naming each such route). Checked once all routes are in,
 * so that a plugin may declare the role of all its routes in an onRoute hook of its own.
 */
export function requireRoles(app: FastifyInstance): void {
  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (r) => void routes.push(r));
  app.addHook('onReady', (done) => {
    const missing = routes.filter((r) => r.config?.role === undefined).map((r) => `${[r.method].flat().join(',')} ${r.url}`);
    if (missing.length === 0) return done();
    done(new Error(`every route declares the role it needs (config.role, see roles.ts); these declare none: ${missing.join('; ')}`));
  });
}
