// `cdsr-adapter certify`: what ACR's certification asks a site to show in its test environment —
// authenticate with ACR Connect, post transactions to the NRDR API, get their statuses and error
// messages back — run as timed steps against one target, into a report that holds no secret and
// no patient data (the transactions are synthetic: certify-data.ts).
import { localTime } from '../cdsr/formats.js';
import { parseErrorMsg } from '../cdsr/error-msg.js';
import { errorMessage } from '../cdsr/errors.js';
import { FINAL_STATUSES, type TransactionStatus } from '../cdsr/schema.js';
import { type Config } from '../config.js';
import { activeProfile, profileVariable, type ConnectionProfile, type ProfileSetting } from '../profile.js';
import { certifyTransactions, type CertifyTransaction } from './certify-data.js';
import { NrdrClient, type NrdrResult } from './nrdr-client.js';
import { OAuthTokenProvider } from './token.js';

/**
 * Where certification runs: ACR's test environment, or the built-in sandbox. Built in one place
 * (`certifyTargetFromConfig`, or the sandbox's) so that a change in where settings come from
 * changes only that function.
 */
export interface CertifyTarget {
  readonly environment: 'test' | 'sandbox';
  /** The CDSR transactions endpoint. */
  readonly baseUrl: string;
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly partnerId: string;
  readonly appId: string;
  /** The test facility's Facility_ID. */
  readonly facilityId: string;
  /** The zone Transaction_DateTime is written in. */
  readonly timeZone: string;
}

/** Why a target cannot be used: the variable to set, and what to do. */
export interface CertifyTargetRefusal {
  readonly variable: string;
  readonly message: string;
}

/**
 * The target of a certification run: the `test` connection profile (CDSR_TEST_NRDR_BASE_URL, its
 * token URL, client id and secret, ids, and CDSR_TEST_FACILITY_ID or `facilityId`), whatever
 * profile the service runs under: certification is what the test environment is for. Anything
 * missing is refused, naming the variable to set.
 */
export function certifyTargetFromConfig(config: Config, facilityId?: string): CertifyTarget | CertifyTargetRefusal {
  const p = testProfileOf(config);
  const name = (s: ProfileSetting) => profileVariable('TEST', s);
  if (p.nrdrBaseUrl === undefined)
    return {
      variable: name('NRDR_BASE_URL'),
      message: `${name('NRDR_BASE_URL')} is not set: set the test profile to ACR's test environment (docs/operations.md "Connection profiles"), or rehearse with --sandbox`,
    };
  const need = [
    ['ACR_TOKEN_URL', p.tokenUrl],
    ['ACR_CLIENT_ID', p.clientId],
    ['ACR_CLIENT_SECRET', p.clientSecret],
  ] as const;
  for (const [s, v] of need)
    if (v === undefined)
      return { variable: name(s), message: `${name(s)} is not set: certification authenticates with the client credentials ACR gave for its test environment` };
  const facility = facilityId ?? p.facilityId;
  if (facility === undefined)
    return { variable: name('FACILITY_ID'), message: `${name('FACILITY_ID')} is not set: set it to the test facility ACR gave (or pass --facility)` };
  return {
    environment: 'test',
    baseUrl: p.nrdrBaseUrl,
    tokenUrl: p.tokenUrl!,
    clientId: p.clientId!,
    clientSecret: p.clientSecret!,
    partnerId: p.partnerId,
    appId: p.appId,
    facilityId: facility,
    timeZone: config.CDSR_TIMEZONE,
  };
}

/** The `test` profile's settings, whichever profile is in force. */
export function testProfileOf(config: Config): ConnectionProfile {
  return activeProfile({ ...config, CDSR_PROFILE: 'test' });
}

export function isRefusal(t: CertifyTarget | CertifyTargetRefusal): t is CertifyTargetRefusal {
  return 'variable' in t;
}

/** The interactive sign-in's outcome: a token in hand, not attempted (and why), or failed. */
export type SignInOutcome =
  | { readonly kind: 'done'; readonly token: string; readonly subject: string }
  | { readonly kind: 'not-done'; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string };

export const STEP_IDS = ['authenticate', 'sign-in', 'post-accepted', 'post-errors', 'poll', 'error-codes'] as const;
export type StepId = (typeof STEP_IDS)[number];

export const STEP_TITLES: Readonly<Record<StepId, string>> = {
  authenticate: 'Authenticate with ACR Connect (client credentials)',
  'sign-in': 'Sign in with ACR Connect (interactive)',
  'post-accepted': 'Post test transactions that must be accepted',
  'post-errors': 'Post test transactions crafted to draw CD error codes',
  poll: 'Get each transaction status until final',
  'error-codes': 'Read the error messages back and check the expected codes',
};

export type StepResult = 'passed' | 'failed' | 'not-done' | 'not-run';

export interface StepRecord {
  readonly id: StepId;
  readonly title: string;
  readonly result: StepResult;
  /** What happened, in words (never a secret). */
  readonly detail: string;
  readonly startedAt: string;
  readonly durationMs: number;
}

/** A CD code NRDR returned, where it came from (Error_Msg, or an Exam_Errors entry). */
export interface ReturnedMessage {
  readonly code: string;
  readonly message: string;
  /** The Exam_Unique_ID of the Exam_Errors entry; absent for the transaction's Error_Msg. */
  readonly examId?: string;
}

export interface TransactionRecord {
  readonly transactionId: string;
  readonly purpose: 'accepted' | 'error';
  readonly condition: string;
  readonly expectedStatus: string;
  readonly expectedCode: string | null;
  readonly encounters: number;
  readonly exams: number;
  /** The POST: taken (a 2xx answer), or the error NRDR or the network gave (with its HTTP status). */
  readonly post: { readonly taken: boolean; readonly error: string | null };
  /** GET requests made for it. */
  readonly polls: number;
  /** The last status NRDR returned ('' when none). */
  readonly status: string;
  readonly final: boolean;
  readonly numOfExamInError: number | null;
  readonly returned: readonly ReturnedMessage[];
  /** Why it did not meet what was expected; null when it did. */
  readonly problem: string | null;
}

export interface CertifyReport {
  readonly header: {
    readonly title: string;
    readonly environment: 'test' | 'sandbox';
    readonly applicationId: string;
    readonly partnerId: string;
    readonly testFacilityId: string;
    readonly date: string;
    /** The zone the date is shown in (CDSR_TIMEZONE). */
    readonly timeZone: string;
    readonly adapterVersion: string;
    readonly runId: string;
    readonly endpoint: string;
  };
  readonly passed: boolean;
  readonly failedSteps: readonly StepId[];
  readonly steps: readonly StepRecord[];
  readonly transactions: readonly TransactionRecord[];
}

export interface CertifyOptions {
  readonly target: CertifyTarget;
  readonly adapterVersion: string;
  /** Prefix of every Transaction_ID and Unique_Encounter_ID of the run. */
  readonly runId: string;
  /** The interactive sign-in (the sandbox's page driven, or a sign-in stored by the console). */
  readonly signIn: () => Promise<SignInOutcome>;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Between two rounds of status requests. */
  readonly pollIntervalMs: number;
  /** Polling stops this long after it began, whatever is still not final. */
  readonly pollTimeoutMs: number;
  /** Step by step as they end (the command prints them). */
  readonly progress?: (step: StepRecord) => void;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const REFUSED = new Set(['ValidationFail', 'PartiallySuccessful']);
// the status messages (loaded, pending, loading, rejected as a whole…) are not errors of the data
const isStatusCode = (code: string) => /^CD000\d$/.test(code);

interface Tracked {
  readonly tx: CertifyTransaction;
  post?: NrdrResult;
  polls: number;
  status?: TransactionStatus;
  pollError?: string;
}

function returnedOf(s: TransactionStatus | undefined): ReturnedMessage[] {
  if (!s) return [];
  return [
    ...parseErrorMsg(s.Error_Msg).map((m) => ({ code: m.code, message: m.message })),
    ...s.Exam_Errors.flatMap((e) => parseErrorMsg(e.Error_Msg).map((m) => ({ code: m.code, message: m.message, examId: e.Exam_Unique_ID ?? '' }))),
  ];
}

/** What the transaction's final answer lacks; undefined when it is what certification expects. */
function statusProblem(t: Tracked): string | undefined {
  if (t.post === undefined) return 'not posted';
  if (!t.post.ok) return `POST failed: ${postError(t.post)}`;
  if (t.status === undefined) return t.pollError !== undefined ? `no status: ${t.pollError}` : 'no status returned';
  if (!FINAL_STATUSES.has(t.status.Status)) return `still ${t.status.Status} when polling stopped`;
  if (t.tx.purpose === 'accepted' && t.status.Status !== 'Posted') return `expected Posted, NRDR answered ${t.status.Status}`;
  if (t.tx.purpose === 'error' && !REFUSED.has(t.status.Status)) return `expected ValidationFail or PartiallySuccessful, NRDR answered ${t.status.Status}`;
  return undefined;
}

function codeProblem(t: Tracked): string | undefined {
  const codes = returnedOf(t.status).map((m) => m.code);
  if (t.tx.purpose === 'accepted') {
    const errors = codes.filter((c) => !isStatusCode(c));
    return errors.length > 0 ? `expected no error, NRDR returned ${errors.join(', ')}` : undefined;
  }
  const expected = t.tx.expectedCode!;
  if (codes.includes(expected)) return undefined;
  return `expected ${expected}, NRDR returned ${codes.length > 0 ? codes.join(', ') : 'no code'}`;
}

function postError(r: NrdrResult): string {
  if (r.ok) return '';
  return `${r.httpStatus !== undefined ? `HTTP ${r.httpStatus} ` : ''}${r.code}: ${r.message}${r.unanswered ? ' (no answer: NRDR may have it)' : ''}`;
}

const examsOf = (t: CertifyTransaction) => t.body.Encounters.reduce((n, e) => n + e.Consultations.length, 0);

export async function runCertification(o: CertifyOptions): Promise<CertifyReport> {
  const now = o.now ?? (() => new Date());
  const sleep = o.sleep ?? realSleep;
  const steps: StepRecord[] = [];
  const step = async (id: StepId, run: () => Promise<{ result: StepResult; detail: string }>): Promise<StepRecord> => {
    const started = now();
    let r: { result: StepResult; detail: string };
    try {
      r = await run();
    } catch (e) {
      r = { result: 'failed', detail: errorMessage(e) };
    }
    const rec: StepRecord = { id, title: STEP_TITLES[id], ...r, startedAt: started.toISOString(), durationMs: now().getTime() - started.getTime() };
    steps.push(rec);
    o.progress?.(rec);
    return rec;
  };
  const skip = (id: StepId, because: string) => step(id, () => Promise.resolve({ result: 'not-run', detail: `not run: ${because}` }));

  const t = o.target;
  const started = now();
  const tokens = new OAuthTokenProvider({ tokenUrl: t.tokenUrl, clientId: t.clientId, clientSecret: t.clientSecret, clock: now });
  const client = new NrdrClient({
    baseUrl: t.baseUrl,
    tokens,
    retry: { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 5_000 },
    timeoutMs: 30_000,
    sleep,
  });
  const tracked: Tracked[] = certifyTransactions({
    runId: o.runId,
    now: started,
    facilityId: t.facilityId,
    partnerId: t.partnerId,
    appId: t.appId,
    timeZone: t.timeZone,
  }).map((tx) => ({ tx, polls: 0 }));

  const auth = await step('authenticate', async () => {
    await tokens.token();
    return { result: 'passed', detail: `access token obtained from ${t.tokenUrl} for client ${t.clientId}` };
  });

  await step('sign-in', async () => {
    const s = await o.signIn();
    if (s.kind === 'done') return { result: 'passed', detail: `signed in as ${s.subject}; access token obtained` };
    return { result: s.kind === 'not-done' ? 'not-done' : 'failed', detail: s.reason };
  });

  const post = async (purpose: 'accepted' | 'error') => {
    const mine = tracked.filter((x) => x.tx.purpose === purpose);
    for (const x of mine) x.post = await client.postTransaction(x.tx.body);
    const failed = mine.filter((x) => !x.post!.ok);
    const ids = mine.map((x) => x.tx.body.Transaction_ID).join(', ');
    if (failed.length === 0) return { result: 'passed' as const, detail: `${mine.length} posted and taken by NRDR: ${ids}` };
    return {
      result: 'failed' as const,
      detail: `${failed.length} of ${mine.length} not taken: ${failed.map((x) => `${x.tx.body.Transaction_ID} (${postError(x.post!)})`).join('; ')}`,
    };
  };
  const authFailed = auth.result !== 'passed';
  if (authFailed) {
    await skip('post-accepted', 'authentication failed');
    await skip('post-errors', 'authentication failed');
    await skip('poll', 'authentication failed');
    await skip('error-codes', 'authentication failed');
  } else {
    await step('post-accepted', () => post('accepted'));
    await step('post-errors', () => post('error'));
    const posted = tracked.filter((x) => x.post?.ok === true);
    if (posted.length === 0) {
      await skip('poll', 'no transaction was posted');
      await skip('error-codes', 'no transaction was posted');
    } else {
      await step('poll', async () => {
        const deadline = now().getTime() + o.pollTimeoutMs;
        for (;;) {
          const open = posted.filter((x) => x.pollError === undefined && !(x.status && FINAL_STATUSES.has(x.status.Status)));
          for (const x of open) {
            x.polls++;
            const r = await client.getStatus(x.tx.body.Transaction_ID, t.facilityId, t.partnerId, t.appId);
            if (r.ok && r.status) x.status = r.status;
            else if (r.ok) x.pollError = `the answer does not read as a transaction status: ${r.raw.slice(0, 200)}`;
            else x.pollError = postError(r);
          }
          const left = posted.filter((x) => x.pollError === undefined && !(x.status && FINAL_STATUSES.has(x.status.Status)));
          if (left.length === 0 || now().getTime() + o.pollIntervalMs > deadline) break;
          await sleep(o.pollIntervalMs);
        }
        const wrong = tracked.map((x) => [x, statusProblem(x)] as const).filter(([, p]) => p !== undefined);
        const finals = posted.filter((x) => x.status && FINAL_STATUSES.has(x.status.Status)).length;
        if (wrong.length === 0)
          return { result: 'passed', detail: `${finals} of ${posted.length} final: the test transactions Posted, the crafted ones refused` };
        return {
          result: 'failed',
          detail: `${finals} of ${posted.length} final; ${wrong.map(([x, p]) => `${x.tx.body.Transaction_ID}: ${p}`).join('; ')}`,
        };
      });
      await step('error-codes', () => {
        const read = tracked.filter((x) => x.status !== undefined && FINAL_STATUSES.has(x.status.Status));
        if (read.length === 0) return Promise.resolve({ result: 'not-run' as const, detail: 'not run: no transaction reached a final status' });
        const wrong = tracked.map((x) => [x, x.status ? codeProblem(x) : 'no status read'] as const).filter(([, p]) => p !== undefined);
        if (wrong.length === 0)
          return Promise.resolve({
            result: 'passed' as const,
            detail: `expected codes returned: ${tracked
              .filter((x) => x.tx.expectedCode)
              .map((x) => `${x.tx.body.Transaction_ID} ${x.tx.expectedCode}`)
              .join(', ')}; none on the test transactions`,
          });
        return Promise.resolve({ result: 'failed' as const, detail: wrong.map(([x, p]) => `${x.tx.body.Transaction_ID}: ${p}`).join('; ') });
      });
    }
  }

  // the interactive sign-in not done is not a pass either
  const failedSteps = steps.filter((s) => s.result !== 'passed').map((s) => s.id);
  return {
    header: {
      title: 'CDSR certification report',
      environment: t.environment,
      applicationId: t.appId,
      partnerId: t.partnerId,
      testFacilityId: t.facilityId,
      date: started.toISOString(),
      timeZone: t.timeZone,
      adapterVersion: o.adapterVersion,
      runId: o.runId,
      endpoint: t.baseUrl,
    },
    passed: failedSteps.length === 0,
    failedSteps,
    steps,
    transactions: tracked.map((x) => {
      const p = statusProblem(x) ?? (x.status ? codeProblem(x) : undefined);
      return {
        transactionId: x.tx.body.Transaction_ID,
        purpose: x.tx.purpose,
        condition: x.tx.condition,
        expectedStatus: x.tx.purpose === 'accepted' ? 'Posted' : 'ValidationFail or PartiallySuccessful',
        expectedCode: x.tx.expectedCode ?? null,
        encounters: x.tx.body.Encounters.length,
        exams: examsOf(x.tx),
        post: x.post === undefined ? { taken: false, error: 'not posted' } : { taken: x.post.ok, error: x.post.ok ? null : postError(x.post) },
        polls: x.polls,
        status: x.status?.Status ?? '',
        final: x.status !== undefined && FINAL_STATUSES.has(x.status.Status),
        numOfExamInError: x.status?.Num_of_Exam_In_Error ?? null,
        returned: returnedOf(x.status),
        problem: p ?? null,
      };
    }),
  };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The report as Markdown, ready to attach to the letter to ACR. */
export function reportMarkdown(r: CertifyReport): string {
  const h = r.header;
  const lines = [
    `# ${h.title}`,
    '',
    `| | |`,
    `|---|---|`,
    `| Application ID (AppID) | ${cell(h.applicationId)} |`,
    `| Partner ID | ${cell(h.partnerId)} |`,
    `| Test facility (Facility_ID) | ${cell(h.testFacilityId)} |`,
    `| Date | ${localTime(new Date(h.date), h.timeZone)} (${h.date}) |`,
    `| Adapter version | cdsr-adapter ${cell(h.adapterVersion)} |`,
    `| Environment | ${h.environment === 'sandbox' ? 'built-in sandbox (a rehearsal, not ACR)' : "ACR's test environment"} |`,
    `| Endpoint | ${cell(h.endpoint)} |`,
    `| Run | ${cell(h.runId)} |`,
    '',
    `**Result: ${r.passed ? 'every step passed' : `FAILED at ${r.failedSteps.join(', ')}`}**`,
    '',
    '## Steps',
    '',
    '| # | step | result | duration | detail |',
    '|---|---|---|---|---|',
    ...r.steps.map((s, i) => `| ${i + 1} | ${cell(s.title)} | ${s.result} | ${s.durationMs} ms | ${cell(s.detail)} |`),
    '',
    '## Transactions',
    '',
    'Synthetic test data generated by cdsr-adapter certify (no patient data).',
    '',
    '| Transaction_ID | sent | expected | POST | status | codes returned | polls | check |',
    '|---|---|---|---|---|---|---|---|',
    ...r.transactions.map(
      (t) =>
        `| ${cell(t.transactionId)} | ${cell(t.condition)} | ${t.expectedCode !== null ? `${t.expectedCode}, ${t.expectedStatus}` : t.expectedStatus} | ${
          t.post.taken ? 'taken (2xx)' : cell(t.post.error ?? '')
        } | ${cell(t.status)} | ${cell(t.returned.map((m) => m.code).join(', '))} | ${t.polls} | ${t.problem === null ? 'as expected' : cell(t.problem)} |`,
    ),
    '',
    '## Error messages returned',
    '',
    ...(r.transactions.some((t) => t.returned.length > 0)
      ? r.transactions.flatMap((t) =>
          t.returned.map((m) => `- ${t.transactionId}${m.examId !== undefined ? ` (exam "${m.examId}")` : ''}: ${m.code} ${m.message}`),
        )
      : ['none']),
    '',
  ];
  return lines.join('\n');
}
