// `cdsr-adapter sandbox`, `submit` and `status`.
import { acrRedirectUrl, nrdrIds, type Config } from '../config.js';
// the sandbox and the tables are loaded by `sandbox` alone, when it runs: `submit` and `status`,
// which only talk to the service, do not pay for loading them (about 0.5 s of CPU at each start)
import type { Faults } from '../sandbox/server.js';
import { renderTable } from './table.js';
import type { CliIo } from './validate.js';
import { EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE, resolveMappingsDir } from './validate.js';
import { errorMessage } from '../cdsr/errors.js';

export interface SandboxCliOptions {
  readonly port: number;
  readonly facility?: string[];
  readonly notAccepted?: string[];
  readonly unauthorized?: string[];
  readonly failRate?: number;
  readonly dropRate?: number;
  readonly delayMs?: number;
  readonly tokenTtl?: number;
  readonly tokenMaxUses?: number;
  readonly stepMs?: number;
  readonly refreshTtl?: number;
  /** Where sign-in codes may be sent (default: ACR_REDIRECT_URL, else the adapter's loopback callback). */
  readonly redirectUrl?: string[];
  readonly appName?: string;
  /** The readings the spec leaves open (docs/sandbox-readings.md). */
  readonly todayZone?: string;
  readonly transactionDatetime?: Faults['transactionDateTime'];
  readonly examIdForm?: Faults['examIdForm'];
  readonly refuseReusedId?: boolean;
}

export async function runSandbox(config: Config, o: SandboxCliOptions, io: CliIo): Promise<number> {
  const [
    { loadMappings },
    { sandboxFacilities, sandboxValueLists },
    { buildSandbox, DEFAULT_CLIENT, SANDBOX_AUTHORIZE_PATH, SANDBOX_PATH, SANDBOX_TOKEN_PATH },
  ] = await Promise.all([import('../mapping/load.js'), import('./builtin-sandbox.js'), import('../sandbox/server.js')]);
  const tables = loadMappings(resolveMappingsDir(config.CDSR_MAPPINGS_DIR)).tables;
  const facilities = o.facility ?? (tables ? sandboxFacilities(tables, config.CDSR_DEFAULT_FACILITY_ID) : ['100000']);
  const { partnerId, appId } = nrdrIds(config);
  const faults: Partial<Faults> = {
    ...(o.failRate !== undefined ? { failRate: o.failRate } : {}),
    ...(o.dropRate !== undefined ? { dropRate: o.dropRate } : {}),
    ...(o.delayMs !== undefined ? { delayMs: o.delayMs } : {}),
    ...(o.tokenTtl !== undefined ? { tokenTtlSeconds: o.tokenTtl } : {}),
    ...(o.tokenMaxUses !== undefined ? { tokenMaxUses: o.tokenMaxUses } : {}),
    ...(o.stepMs !== undefined ? { stepMs: o.stepMs } : {}),
    ...(o.refreshTtl !== undefined ? { refreshTtlSeconds: o.refreshTtl } : {}),
    ...(o.todayZone !== undefined ? { todayZone: o.todayZone } : {}),
    ...(o.transactionDatetime !== undefined ? { transactionDateTime: o.transactionDatetime } : {}),
    ...(o.examIdForm !== undefined ? { examIdForm: o.examIdForm } : {}),
    ...(o.refuseReusedId === true ? { refuseReusedId: true } : {}),
  };
  const redirectUris = o.redirectUrl ?? [acrRedirectUrl(config)];
  const appName = o.appName ?? config.ACR_APP_NAME ?? 'cdsr-adapter';
  const sandbox = await buildSandbox({
    facilities: facilities.filter((f) => !(o.notAccepted ?? []).includes(f)),
    notAccepted: o.notAccepted ?? [],
    unauthorizedFacilities: o.unauthorized ?? [],
    partners: { [partnerId]: [appId] },
    clients: [{ ...DEFAULT_CLIENT, partnerId, redirectUris, appName }],
    ...(tables ? { valueLists: sandboxValueLists(tables.valueSets) } : {}),
    faults,
  });
  const url = await sandbox.app.listen({ port: o.port, host: '127.0.0.1' });
  io.out(
    [
      `NRDR sandbox (not ACR) listening on ${url}`,
      `  NRDR_BASE_URL=${url}${SANDBOX_PATH}`,
      `  ACR_TOKEN_URL=${url}${SANDBOX_TOKEN_PATH}  ACR_CLIENT_ID=${DEFAULT_CLIENT.clientId}  ACR_CLIENT_SECRET=${DEFAULT_CLIENT.clientSecret}`,
      `  NRDR_PARTNER_ID=${partnerId}  NRDR_APP_ID=${appId}`,
      `  sign-in: ACR_AUTHORIZE_URL=${url}${SANDBOX_AUTHORIZE_PATH}  ACR_REDIRECT_URL=${redirectUris[0] ?? ''}  (application "${appName}"; users: operator / sandbox at any registered facility)`,
      `  registered facilities: ${facilities.join(', ')}${o.notAccepted?.length ? `; not accepted: ${o.notAccepted.join(', ')}` : ''}${o.unauthorized?.length ? `; partner not authorised: ${o.unauthorized.join(', ')}` : ''}`,
      `  faults: ${JSON.stringify(sandbox.faults)} (change at run time: POST ${url}/sandbox/faults)`,
      `  what it holds: GET ${url}/sandbox/registry`,
      '',
    ].join('\n'),
  );
  return new Promise<number>(() => undefined);
}

export function serverUrl(config: Pick<Config, 'HOST' | 'PORT'>, url?: string): string {
  return url ?? `http://${config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}`;
}

export function headers(
  config: Pick<Config, 'CDSR_OPERATE_API_KEYS' | 'CDSR_INBOUND_API_KEYS'> & Partial<Pick<Config, 'CDSR_API_KEY'>>,
): Record<string, string> {
  // submit and status are operator calls: CDSR_API_KEY, else an operate key (or an older inbound key)
  const key = config.CDSR_API_KEY ?? config.CDSR_OPERATE_API_KEYS[0] ?? config.CDSR_INBOUND_API_KEYS[0];
  return key !== undefined ? { authorization: `Bearer ${key}` } : {};
}

/** POST /api/submit's result (summed over the rounds of one submission). */
interface SubmitResult {
  created: number;
  posted: number;
  final: number;
  accepted: number;
  rejected: number;
  review: number;
  pending: number;
  oldestPendingSeconds: number;
  leader: boolean;
  holder?: { instance: string; until: string };
}
interface SubmitProgress {
  running: boolean;
  posted: number;
  polled: number;
  final: number;
  last: SubmitResult | null;
}

const age = (s: number): string => (s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`);

/**
 * Asks the running service to submit now. A submission longer than a few seconds is followed
 * (GET /api/submit) with its progress shown, never taken for a service that cannot be reached.
 * Exit: 0 when nothing needs an operator (still polling is not), 1 when records were rejected or
 * need review, 2 when the service cannot be asked.
 */
export async function runSubmit(
  config: Config,
  o: { url?: string },
  io: CliIo,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<number> {
  const base = serverUrl(config, o.url);
  const started = Date.now();
  let line = 'submitting…';
  const spinner = io.progress ? setInterval(() => io.err(`\r${line} ${((Date.now() - started) / 1000).toFixed(0)} s`), 250) : undefined;
  try {
    const r = await fetch(`${base}/api/submit`, { method: 'POST', headers: headers(config) });
    if (r.status !== 200 && r.status !== 202) {
      io.err(`cdsr-adapter: ${base} answered ${r.status}: ${await r.text()}\n`);
      return EXIT_UNREADABLE;
    }
    let x: SubmitResult;
    if (r.status === 200) x = (await r.json()) as SubmitResult;
    else {
      // a long submission: followed until it ends
      for (;;) {
        const p = (await (await fetch(`${base}/api/submit`, { headers: headers(config) })).json()) as SubmitProgress;
        if (!p.running && p.last) {
          x = p.last;
          break;
        }
        line = `submitting… ${p.posted} transaction(s) posted, ${p.final} final, ${p.polled} status request(s)`;
        await sleep(1000);
      }
    }
    if (spinner) io.err('\n');
    if (!x.leader) {
      const who = x.holder
        ? `another instance (${x.holder.instance}) is the submitter (its lease runs until ${x.holder.until})`
        : 'another instance is the submitter';
      io.out(`${who}: it sends the ready records; nothing was sent from this one\n`);
      return EXIT_OK;
    }
    io.out(
      `${x.created} transaction(s) created, ${x.posted} posted, ${x.final} final: ${x.accepted} record(s) accepted, ${x.rejected} rejected, ${x.review} need review; ` +
        `${x.pending} transaction(s) still polling${x.pending > 0 ? ` (oldest ${age(x.oldestPendingSeconds)})` : ''}\n`,
    );
    if (x.rejected > 0 || x.review > 0) {
      io.err(`cdsr-adapter: records need an operator: GET /api/records?state=${x.review > 0 ? 'needs-review' : 'rejected'}, or \`cdsr-adapter status\`\n`);
      return EXIT_PROBLEMS;
    }
    return EXIT_OK;
  } catch (e) {
    io.err(`cdsr-adapter: the service at ${base} cannot be reached (${errorMessage(e)}); is it running?\n`);
    return EXIT_UNREADABLE;
  } finally {
    if (spinner) clearInterval(spinner);
  }
}

interface TxSummary {
  transactionId: string;
  facilityId: string;
  status: string;
  nrdrStatus: string | null;
  consultations: number;
  accepted: number;
  rejected: number;
  errorMsg: string | null;
  lastError: string | null;
}

export async function runStatus(config: Config, id: string | undefined, o: { url?: string }, io: CliIo): Promise<number> {
  const base = serverUrl(config, o.url);
  try {
    if (id === undefined) {
      const r = (await (await fetch(`${base}/api/transactions?limit=1000`, { headers: headers(config) })).json()) as { transactions: TxSummary[] };
      io.out(
        renderTable(
          ['TRANSACTION', 'FACILITY', 'STATE', 'NRDR STATUS', 'RECORDS', 'ACCEPTED', 'REJECTED', 'ERROR'],
          r.transactions.map((t) => [
            t.transactionId,
            t.facilityId,
            t.status,
            t.nrdrStatus ?? '',
            String(t.consultations),
            String(t.accepted),
            String(t.rejected),
            t.errorMsg || t.lastError || '',
          ]),
        ),
      );
      return EXIT_OK;
    }
    const res = await fetch(`${base}/api/transactions/${encodeURIComponent(id)}`, { headers: headers(config) });
    if (res.status === 404) {
      io.err(`cdsr-adapter: no transaction ${id}\n`);
      return EXIT_PROBLEMS;
    }
    const t = (await res.json()) as TxSummary & {
      records: { encounterKey: string; consultationKey: string; result?: string; problems: { code: string; message: string }[] }[];
    };
    io.out(`${t.transactionId}  facility ${t.facilityId}  ${t.status}  NRDR: ${t.nrdrStatus ?? '-'}${t.errorMsg ? `  ${t.errorMsg}` : ''}\n`);
    io.out(
      renderTable(
        ['ENCOUNTER', 'CONSULTATION', 'RESULT', 'NRDR'],
        t.records.map((r) => [
          r.encounterKey.slice(r.encounterKey.indexOf('|') + 1),
          r.consultationKey,
          r.result ?? 'pending',
          r.problems.map((p) => `${p.code}:${p.message}`).join(' | '),
        ]),
      ),
    );
    return t.rejected > 0 ? EXIT_PROBLEMS : EXIT_OK;
  } catch (e) {
    io.err(`cdsr-adapter: the service at ${base} cannot be reached (${errorMessage(e)}); is it running?\n`);
    return EXIT_UNREADABLE;
  }
}
