// `cdsr-adapter certify`: the certification run against ACR's test environment (the `test`
// connection profile), or with --sandbox a rehearsal against a sandbox started here on
// loopback; writes the report as Markdown and JSON (docs/operations.md "Certification").
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Config } from '../config.js';
import { nrdrIds } from '../config.js';
import { errorMessage } from '../cdsr/errors.js';
import { loadMappings } from '../mapping/load.js';
import { AcrSignIn } from '../outbound/acr-signin.js';
import {
  certifyTargetFromConfig,
  isRefusal,
  testProfileOf,
  reportMarkdown,
  runCertification,
  STEP_TITLES,
  type CertifyReport,
  type CertifyTarget,
  type SignInOutcome,
  type StepRecord,
} from '../outbound/certify.js';
import { MemoryCredentials } from '../outbound/memory-credentials.js';
import { SecretBox } from '../outbound/secret-box.js';
import { signInFor } from '../outbound/setup.js';
import { profileCredentials } from '../outbound/profile-store.js';
import { profileVariable } from '../profile.js';
import { PACKAGE_ROOT } from '../paths.js';
import { submitLogin } from '../sandbox/login-form.js';
import { buildSandbox, DEFAULT_CLIENT, SANDBOX_AUTHORIZE_PATH, SANDBOX_PATH, SANDBOX_TOKEN_PATH, type Sandbox, type SandboxUser } from '../sandbox/server.js';
import { openStoreToRead } from '../server/service-store.js';
import { sandboxValueLists } from './builtin-sandbox.js';
import { EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE, resolveMappingsDir, type CliIo } from './validate.js';

export interface CertifyCliOptions {
  /** Rehearse against a sandbox started in this process on loopback. */
  readonly sandbox?: boolean;
  /** Folder of the report files (default: the current directory). */
  readonly out?: string;
  /** The test facility (default: CDSR_TEST_FACILITY_ID; with --sandbox 100000 without it). */
  readonly facility?: string;
  /** Seconds between status requests (default 10; with --sandbox 0.05). */
  readonly pollInterval?: number;
  /** Seconds polling may last (default 900; with --sandbox 30). */
  readonly timeout?: number;
}

/** For tests: the clock, the wait, the run id, and the in-process sandbox. */
export interface CertifySeams {
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly runId?: string;
  /** Called with the --sandbox sandbox before it listens (switch faults, watch answers). */
  readonly onSandbox?: (sandbox: Sandbox) => void;
  /** The current directory (the default --out). */
  readonly cwd?: string;
}

const SANDBOX_FACILITY = '100000';
const SANDBOX_USER = { username: 'operator', password: 'sandbox' } as const;
// the sandbox's sign-in sends its code here; nothing listens: certify reads the redirect itself
const SANDBOX_REDIRECT = 'http://127.0.0.1:9/auth/acr/callback';
const SILENT = { info: () => undefined, warn: () => undefined };

export function adapterVersion(): string {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/** `CERT` + the UTC date and time + 4 random hex digits: unique per run, short enough for Transaction_ID. */
export function certifyRunId(at: Date, random: () => string = () => randomBytes(2).toString('hex').toUpperCase()): string {
  return `CERT${at.toISOString().replace(/[-:T]/g, '').slice(0, 14)}${random()}`;
}

/**
 * Signs in at a sandbox's authorize page as `user`, as a browser would (sandbox/login-form.ts):
 * the page, its form, the redirect back with the code, the code exchanged.
 */
export async function driveSandboxSignIn(signIn: AcrSignIn, user: SandboxUser): Promise<SignInOutcome> {
  const r = await submitLogin(await signIn.begin(), { facility: user.facilityId, username: user.username, password: user.password });
  if (r.pageStatus !== 200) return { kind: 'failed', reason: `the sign-in page answered ${r.pageStatus}` };
  if (!r.form) return { kind: 'failed', reason: 'the sign-in page has no sign-in form' };
  if (r.status !== 302 || r.location === '') return { kind: 'failed', reason: `the sign-in form answered ${r.status} without sending the browser back` };
  const status = await signIn.complete(Object.fromEntries(new URL(r.location).searchParams));
  const token = await signIn.token();
  return { kind: 'done', token, subject: status.subject ?? '' };
}

/** The sign-in the console stored under the test profile, if there is one. */
export async function storedSignIn(config: Config, target: CertifyTarget, clock: () => Date = () => new Date()): Promise<SignInOutcome> {
  const first = 'sign in at the console first';
  const profile = testProfileOf(config);
  const authorize = profileVariable('TEST', 'ACR_AUTHORIZE_URL');
  if (profile.authorizeUrl === undefined)
    return {
      kind: 'not-done',
      reason: `not done: ${first} (the sign-in is not configured: set ${authorize}, ${profileVariable('TEST', 'ACR_REDIRECT_URL')} and CDSR_SECRET_KEY)`,
    };
  if (config.CDSR_SECRET_KEY === undefined)
    return { kind: 'not-done', reason: `not done: ${first} (CDSR_SECRET_KEY is not set, so no stored sign-in can be read)` };
  if (config.CDSR_DATABASE_URL === undefined && !existsSync(join(config.CDSR_DATA_DIR, 'cdsr-adapter.sqlite')))
    return { kind: 'not-done', reason: `not done: ${first} (no store in CDSR_DATA_DIR ${config.CDSR_DATA_DIR})` };
  const store = await openStoreToRead(config);
  try {
    // the sign-in a service under the test profile kept (its credentials are the profile's own)
    const signIn = signInFor(
      config,
      profileCredentials(store, 'test'),
      { baseUrl: target.baseUrl, tokens: undefined, sandbox: false, close: () => Promise.resolve() },
      SILENT,
      clock,
      profile,
    );
    if (!signIn || !(await signIn.active())) return { kind: 'not-done', reason: `not done: ${first} (no sign-in is stored)` };
    const token = await signIn.token();
    const status = await signIn.status();
    return { kind: 'done', token, subject: status.subject ?? '' };
  } catch (e) {
    return { kind: 'failed', reason: `the stored sign-in gives no token: ${errorMessage(e)}; sign in again at the console` };
  } finally {
    await store.close();
  }
}

function fileStamp(d: Date): string {
  const iso = d.toISOString();
  return `${iso.slice(0, 10)}-${iso.slice(11, 19).replace(/:/g, '')}`;
}

function stepLine(s: StepRecord, i: number): string {
  return `${String(i + 1)}. [${s.result}] ${s.title} (${s.durationMs} ms): ${s.detail}\n`;
}

export async function runCertify(config: Config, o: CertifyCliOptions, io: CliIo, seams: CertifySeams = {}): Promise<number> {
  const now = seams.now ?? (() => new Date());
  let target: CertifyTarget;
  let signIn: () => Promise<SignInOutcome>;
  let close = () => Promise.resolve();
  if (o.sandbox === true) {
    const facilityId = o.facility ?? testProfileOf(config).facilityId ?? SANDBOX_FACILITY;
    const { partnerId, appId } = nrdrIds(config);
    const mappingsDir = resolveMappingsDir(config.CDSR_MAPPINGS_DIR);
    const tables = loadMappings(mappingsDir).tables;
    if (!tables) {
      io.err(
        `cdsr-adapter certify: the mappings in ${mappingsDir} do not load (cdsr-adapter check-mappings ${mappingsDir} names the problems): --sandbox takes ACR's value lists from their value sets\n`,
      );
      return EXIT_UNREADABLE;
    }
    const sandbox = await buildSandbox({
      facilities: [facilityId],
      partners: { [partnerId]: [appId] },
      clients: [{ ...DEFAULT_CLIENT, partnerId, redirectUris: [SANDBOX_REDIRECT], appName: config.ACR_APP_NAME ?? 'cdsr-adapter' }],
      // ACR's lists as the site holds them: CD3120 is checked against them
      valueLists: sandboxValueLists(tables.valueSets),
      faults: { stepMs: 20 },
      ...(seams.now ? { clock: seams.now } : {}),
    });
    seams.onSandbox?.(sandbox);
    const url = await sandbox.app.listen({ port: 0, host: '127.0.0.1' });
    close = () => sandbox.app.close();
    target = {
      environment: 'sandbox',
      baseUrl: `${url}${SANDBOX_PATH}`,
      tokenUrl: `${url}${SANDBOX_TOKEN_PATH}`,
      clientId: DEFAULT_CLIENT.clientId,
      clientSecret: DEFAULT_CLIENT.clientSecret,
      partnerId,
      appId,
      facilityId,
      timeZone: config.CDSR_TIMEZONE,
    };
    const acr = new AcrSignIn({
      authorizeUrl: `${url}${SANDBOX_AUTHORIZE_PATH}`,
      tokenUrl: target.tokenUrl,
      clientId: target.clientId,
      clientSecret: target.clientSecret,
      redirectUrl: SANDBOX_REDIRECT,
      appName: config.ACR_APP_NAME ?? 'cdsr-adapter',
      // a sign-in kept only for the run: in memory, sealed under a key of the run
      store: new MemoryCredentials(),
      box: new SecretBox(randomBytes(32)),
      clock: now,
      warnBeforeMs: 0,
      log: SILENT,
    });
    signIn = () => driveSandboxSignIn(acr, { facilityId, ...SANDBOX_USER });
  } else {
    const t = certifyTargetFromConfig(config, o.facility);
    if (isRefusal(t)) {
      io.err(`cdsr-adapter certify: ${t.message}\n`);
      return EXIT_UNREADABLE;
    }
    target = t;
    signIn = () => storedSignIn(config, t, now);
  }
  const outDir = resolve(seams.cwd ?? process.cwd(), o.out ?? '.');
  let report: CertifyReport;
  try {
    mkdirSync(outDir, { recursive: true });
    const started = now();
    const sandboxDefaults = o.sandbox === true;
    io.out(
      `certify: ${target.environment === 'sandbox' ? 'rehearsal against a built-in sandbox (not ACR)' : `ACR's test environment ${target.baseUrl}`}, facility ${target.facilityId}\n`,
    );
    let n = 0;
    report = await runCertification({
      target,
      adapterVersion: adapterVersion(),
      runId: seams.runId ?? certifyRunId(started),
      signIn,
      now,
      ...(seams.sleep ? { sleep: seams.sleep } : {}),
      pollIntervalMs: (o.pollInterval ?? (sandboxDefaults ? 0.05 : 10)) * 1000,
      pollTimeoutMs: (o.timeout ?? (sandboxDefaults ? 30 : 900)) * 1000,
      progress: (s) => io.out(stepLine(s, n++)),
    });
  } catch (e) {
    io.err(`cdsr-adapter certify: ${errorMessage(e)}\n`);
    return EXIT_UNREADABLE;
  } finally {
    await close();
  }
  const base = join(outDir, `cdsr-certification-${fileStamp(new Date(report.header.date))}`);
  try {
    writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(`${base}.md`, reportMarkdown(report));
  } catch (e) {
    io.err(`cdsr-adapter certify: the report cannot be written to ${outDir}: ${errorMessage(e)} (choose another folder with --out)\n`);
    return EXIT_UNREADABLE;
  }
  io.out(`report: ${base}.md\n        ${base}.json\n`);
  if (report.passed) {
    io.out(
      target.environment === 'sandbox'
        ? 'every step passed (a rehearsal: run it again against the test environment for ACR)\n'
        : 'every step passed: send the report to ACR to complete the certification\n',
    );
    return EXIT_OK;
  }
  for (const s of report.steps.filter((x) => report.failedSteps.includes(x.id)))
    io.err(`certify: step "${s.id}" (${STEP_TITLES[s.id]}) ${s.result === 'failed' ? 'failed' : s.result}: ${s.detail}\n`);
  return EXIT_PROBLEMS;
}
