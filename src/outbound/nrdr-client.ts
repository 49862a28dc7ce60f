// The NRDR CDSR API client (docs/cdsr-spec.md §4): POST a transaction, GET its status. 401 → one fresh
// token and again; 429 and a token that cannot be had → exponential backoff with jitter, a
// bounded number of times; 400 / 403 / 404 → no retry (the error is the answer). A GET is also
// retried on network errors, timeouts and 5xx; a POST never is: without its answer NRDR may have
// stored it (a gateway's 502 after the registry took it), so the submitter asks with a GET first.
import { TransactionStatusSchema, WebServiceErrorSchema, type Transaction, type TransactionStatus } from '../cdsr/schema.js';
import { TokenError, type TokenProvider } from './token.js';
import { errorMessage } from '../cdsr/errors.js';
import { isDeidentified, type DeidentifiedTransaction } from './deidentify.js';

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** One HTTP exchange with NRDR, as the client sees it. */
export interface HttpRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly params?: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
}
export interface HttpAnswer {
  readonly status: number;
  readonly body: unknown;
}
/** Sends one request; rejects on network failure or timeout (no answer). */
export type HttpTransport = (req: HttpRequest) => Promise<HttpAnswer>;

export const axiosTransport: HttpTransport = async (req) => {
  // loaded at the first request, not at start: axios and its dependencies cost a `serve` or a
  // command that never submits about 0.2 s of CPU
  const { default: axios } = await import('axios');
  const r = await axios.request<unknown>({
    method: req.method,
    url: req.url,
    ...(req.params ? { params: req.params } : {}),
    headers: req.headers,
    ...(req.body !== undefined ? { data: req.body } : {}),
    timeout: req.timeoutMs,
    validateStatus: () => true,
    transformResponse: (d: unknown) => d,
  });
  return { status: r.status, body: r.data };
};

/** Connection errors before anything was sent. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export interface NrdrClientOptions {
  /** The transactions endpoint, e.g. https://nrdr9x.acr.org/NonPQRSapi/cdsr/transactions */
  readonly baseUrl: string;
  readonly tokens: TokenProvider;
  readonly retry?: Partial<RetryPolicy>;
  readonly timeoutMs?: number;
  /** Seams for tests: the wait between attempts, the jitter, the HTTP exchange. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly transport?: HttpTransport;
  /**
   * The test profile: a POST goes out only with a body the de-identification step made or checked
   * in this process (deidentify.ts); any other is refused here, before a token is asked for.
   */
  readonly deidentifiedOnly?: boolean;
}

export type NrdrResult =
  /** A 2xx: NRDR has it. `status` when the answer reads as a transaction status; `raw` always. */
  | { readonly ok: true; readonly status?: TransactionStatus; readonly raw: string }
  /**
   * permanent: NRDR refused it (no retry helps); otherwise the retries ran out. unanswered: a POST
   * went out and its answer was not received (timeout, dropped connection, 5xx): NRDR may have it.
   */
  | {
      readonly ok: false;
      readonly permanent: boolean;
      readonly httpStatus?: number;
      readonly code: string;
      readonly message: string;
      readonly unanswered?: true;
    };

/**
 * What the submitter needs of NRDR (the real client, or a stand-in in benchmarks). `Body`: the
 * bodies it may POST; the test profile's submitter takes an `NrdrApi<DeidentifiedTransaction>`, so
 * that its POST path does not compile with a body that did not come out of the step.
 */
export interface NrdrApi<Body extends Transaction = Transaction> {
  /**
   * `claim`: asked once, right before the POST is first written (after the token is at hand, so
   * that nothing stands between the claim and the request); false → nothing is sent
   * (`not_claimed`).
   */
  postTransaction(tx: Body, claim?: () => Promise<boolean>): Promise<NrdrResult>;
  getStatus(id: string, facilityId: string, partnerId: string, appId: string): Promise<NrdrResult>;
}

export class NrdrClient implements NrdrApi {
  readonly stats = { requests: 0, retries: 0, tokenRefreshes: 0 };
  private readonly retry: RetryPolicy;

  constructor(private readonly opts: NrdrClientOptions) {
    this.retry = { maxAttempts: 6, baseDelayMs: 200, maxDelayMs: 10_000, ...opts.retry };
  }

  postTransaction(tx: Transaction | DeidentifiedTransaction, claim?: () => Promise<boolean>): Promise<NrdrResult> {
    if (this.opts.deidentifiedOnly === true && !isDeidentified(tx))
      return Promise.resolve({
        ok: false,
        permanent: false,
        code: 'not_deidentified',
        message: `not sent: transaction ${String(tx.Transaction_ID)} did not go through the de-identification step (the test profile sends no other)`,
      });
    const body = JSON.stringify(tx);
    return this.call(
      (token) => ({
        method: 'POST',
        url: this.opts.baseUrl,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
        body,
        timeoutMs: this.opts.timeoutMs ?? 30_000,
      }),
      false,
      claim,
    );
  }

  getStatus(id: string, facilityId: string, partnerId: string, appId: string): Promise<NrdrResult> {
    return this.call((token) => ({
      method: 'GET',
      url: this.opts.baseUrl,
      params: { id, facilityid: facilityId, partnerid: partnerId, appid: appId },
      headers: { authorization: `Bearer ${token}` },
      timeoutMs: this.opts.timeoutMs ?? 30_000,
    }));
  }

  /** `resend`: a request whose answer was lost may go again (a GET); a POST's may not. */
  private async call(request: (token: string) => HttpRequest, resend = true, claim?: () => Promise<boolean>): Promise<NrdrResult> {
    let claimed = claim === undefined;
    const send = this.opts.transport ?? axiosTransport;
    // 401s get a fresh token and another try without counting as failed attempts, a few times
    let refreshesLeft = 3;
    let last: NrdrResult = { ok: false, permanent: false, code: 'no_attempt', message: 'not sent' };
    for (let attempt = 0; attempt < this.retry.maxAttempts; attempt++) {
      if (attempt > 0 && last.code !== 'invalid_token' && last.code !== 'missing_token') {
        this.stats.retries++;
        const exp = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
        await (this.opts.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms))))(exp / 2 + (this.opts.random ?? Math.random)() * (exp / 2));
      }
      let token: string;
      try {
        token = await this.opts.tokens.token();
      } catch (e) {
        last = { ok: false, permanent: false, code: 'token_error', message: e instanceof TokenError ? e.message : String(e) };
        continue;
      }
      if (!claimed) {
        if (!(await claim!())) return { ok: false, permanent: false, code: 'not_claimed', message: 'not sent: the submitter could not claim it' };
        claimed = true;
      }
      let r: HttpAnswer;
      try {
        this.stats.requests++;
        r = await send(request(token));
      } catch (e) {
        last = { ok: false, permanent: false, code: 'network_error', message: errorMessage(e) };
        // no connection was made (refused, no such host): nothing reached NRDR, and it may go again
        if (!resend && !NOT_CONNECTED.has(String((e as { code?: unknown }).code))) return { ...last, unanswered: true };
        continue;
      }
      const body = parseBody(r.body);
      if (r.status >= 200 && r.status < 300) {
        // any 2xx means NRDR has it: an answer that does not read as a status is kept as given,
        // never a reason to send the transaction again
        const s = TransactionStatusSchema.safeParse(body);
        const raw = typeof r.body === 'string' ? r.body.slice(0, 4000) : JSON.stringify(r.body ?? '').slice(0, 4000);
        return s.success ? { ok: true, status: s.data, raw } : { ok: true, raw };
      }
      const err = WebServiceErrorSchema.safeParse(body);
      const code = err.success ? err.data.error_code : `http_${r.status}`;
      const message = err.success ? err.data.error_description : `NRDR answered ${r.status}`;
      if (r.status === 401) {
        last = { ok: false, permanent: false, httpStatus: 401, code, message };
        this.opts.tokens.invalidate(token);
        this.stats.tokenRefreshes++;
        if (refreshesLeft-- > 0) attempt--;
        continue;
      }
      if (r.status >= 500) {
        last = { ok: false, permanent: false, httpStatus: r.status, code, message };
        if (!resend) return { ...last, unanswered: true };
        continue;
      }
      // too many requests: refused before it was taken in, safe to send again
      if (r.status === 429) {
        last = { ok: false, permanent: false, httpStatus: r.status, code, message };
        continue;
      }
      return { ok: false, permanent: true, httpStatus: r.status, code, message };
    }
    return last;
  }
}

function parseBody(data: unknown): unknown {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}
