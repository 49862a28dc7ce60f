// Commands that act on the records of a running service: through its API (`--url`, the key from
// CDSR_API_KEY, else the first operate key), or — with no --url — offline on the store the
// environment names, refused while a service holds that store (its presence lease).
import type { Config } from '../config.js';
import { errorMessage } from '../cdsr/errors.js';
import { SERVICE_LEASE } from '../server/service-lease.js';
import type { Store } from '../store/store.js';
import type { CliIo } from './validate.js';
import { EXIT_UNREADABLE } from './validate.js';

export function serviceUrl(config: Config, url?: string): string {
  return (url ?? `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}`).replace(/\/+$/, '');
}

/** The key the command line presents: CDSR_API_KEY, else an operate key of this environment. */
export function cliHeaders(config: Config): Record<string, string> {
  const key = config.CDSR_API_KEY ?? config.CDSR_OPERATE_API_KEYS[0] ?? config.CDSR_INBOUND_API_KEYS[0];
  return key !== undefined ? { authorization: `Bearer ${key}` } : {};
}

export type ServiceAnswer<T> = { ok: true; body: T } | { ok: false; exit: number };

/** One call to the service; a refusal or an unreachable service is said on stderr, with what to do. */
export async function callService<T>(config: Config, base: string, method: string, path: string, io: CliIo, body?: unknown): Promise<ServiceAnswer<T>> {
  let r: Response;
  try {
    r = await fetch(`${base}${path}`, {
      method,
      headers: { ...cliHeaders(config), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (e) {
    io.err(`cdsr-adapter: the service at ${base} cannot be reached (${errorMessage(e)}); is it running?\n`);
    return { ok: false, exit: EXIT_UNREADABLE };
  }
  const text = await r.text();
  if (r.status === 401 || r.status === 403) {
    io.err(`cdsr-adapter: ${base} refused the key (${r.status}): set CDSR_API_KEY to an operate key of the service\n`);
    return { ok: false, exit: EXIT_UNREADABLE };
  }
  if (!r.ok) {
    io.err(`cdsr-adapter: ${base} answered ${r.status}: ${text.trim()}\n`);
    return { ok: false, exit: EXIT_UNREADABLE };
  }
  return { ok: true, body: JSON.parse(text) as T };
}

const CLI_HOLDER = `cli-${process.pid}`;

/**
 * Takes the service's presence lease for the time of an offline command; false (said on stderr)
 * when a service holds it, i.e. runs on this store.
 */
export async function holdOffline(store: Store, base: string, command: string, io: CliIo, now = new Date()): Promise<boolean> {
  if (await store.lease(SERVICE_LEASE, CLI_HOLDER, now, 10 * 60_000)) return true;
  io.err(
    `cdsr-adapter: a running service holds this store (its "${SERVICE_LEASE}" lease); ${command} through it instead: ` +
      `cdsr-adapter ${command} --url ${base} (with CDSR_API_KEY set to an operate key). ` +
      'If no service runs (it was killed), the lease lapses within a minute.\n',
  );
  return false;
}

export async function releaseOffline(store: Store): Promise<void> {
  await store.releaseLease(SERVICE_LEASE, CLI_HOLDER).catch(() => undefined);
}
