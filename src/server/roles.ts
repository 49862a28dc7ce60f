// Who may do what: each API key has a role, given by the variable it is listed in. send: post HL7
// and FHIR; view: read the ledger, summaries and counts (no field values, no raw messages);
// operate: everything of view, plus records' field values, transactions' bodies, replay, submit
// and the access audit; metrics: /metrics only. The older CDSR_INBOUND_API_KEYS are send + operate.
import { timingSafeEqual } from 'node:crypto';
import type { Config } from '../config.js';

export type Role = 'send' | 'view' | 'operate' | 'metrics';
export type Need = Role | 'open';

export interface KeyEntry {
  readonly key: Buffer;
  /** How the audit names it: `operate#2` (the 2nd key of CDSR_OPERATE_API_KEYS), never the key. */
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

export function keyRing(c: RoleConfig): KeyEntry[] {
  const ring: KeyEntry[] = [];
  const add = (keys: readonly string[] | undefined, label: string, roles: readonly Role[]) =>
    (keys ?? []).forEach((k, i) => ring.push({ key: Buffer.from(k), label: `${label}#${i + 1}`, roles: new Set(roles.flatMap((r) => GRANTS[r])) }));
  add(c.CDSR_INBOUND_API_KEYS, 'key', ['send', 'operate']);
  add(c.CDSR_SEND_API_KEYS, 'send', ['send']);
  add(c.CDSR_OPERATE_API_KEYS, 'operate', ['operate']);
  add(c.CDSR_VIEW_API_KEYS, 'view', ['view']);
  add(c.CDSR_METRICS_API_KEYS, 'metrics', ['metrics']);
  return ring;
}

/** The entry of a presented key, compared in constant time against every configured one. */
export function findKey(ring: readonly KeyEntry[], given: string): KeyEntry | undefined {
  const g = Buffer.from(given);
  let found: KeyEntry | undefined;
  for (const e of ring) if (e.key.length === g.length && timingSafeEqual(e.key, g)) found = e;
  return found;
}

/** The role a route needs, by its pattern (never its URL). */
export function needFor(method: string, route: string | undefined): Need {
  // the browser comes back from ACR Connect without a key: the one-time state is its credential
  if (route === '/healthz' || route === '/readyz' || route === '/auth/acr/callback') return 'open';
  // the console asks for the key itself (a login form, then a session cookie) and needs operate
  if (route === '/ui' || route?.startsWith('/ui/')) return 'open';
  if (route === '/hl7v2' || route?.startsWith('/fhir')) return 'send';
  if (route === '/metrics') return 'metrics';
  if (
    method === 'GET' &&
    (route === '/api/orders' ||
      route === '/api/reconciliation' ||
      route === '/api/records' ||
      route === '/api/messages' ||
      route === '/api/transactions' ||
      route === '/api/subscriptions' ||
      route === '/api/auth' ||
      route === '/api/openapi.json')
  ) {
    return 'view';
  }
  // field values, bodies, replay, submit, the audit, and any route not listed above
  return 'operate';
}
