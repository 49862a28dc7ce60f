// The project's exceptions (fastify's errors-as-a-catalogue model, `createError(code, message,
// statusCode)`): every one carries a code, and the code — in the table below — its HTTP status
// and its message; an error may say more than the table's message (which order, which parameter)
// and name the field it concerns. Problems (problem.ts) are the values that travel to users; these
// are what code throws. The HTTP edge (server/error-answer.ts) answers every error by its code.

/** What one code means at the HTTP edge: its status, and the message when the error says no more. */
export interface ErrorKind {
  readonly status: number;
  readonly message: string;
}

/**
 * Every error code, with its HTTP status and message. A code that never reaches a request (the
 * configuration, the outbound token) still has one: if it did, it is a failure of ours (500).
 */
export const ERRORS = {
  // configuration and store
  CONFIG_INVALID: { status: 500, message: 'the configuration is not valid' },
  STORE_UNAVAILABLE: { status: 503, message: 'the adapter cannot take this request now; send it again' },
  STORE_CORRUPT: { status: 500, message: 'the store holds a row the adapter cannot read' },
  STORE_NOT_FOUND: { status: 404, message: 'no such item in the store' },
  STORE_SCHEMA_NEWER: { status: 500, message: 'the store was migrated by a newer cdsr-adapter than this one' },
  STATE_TRANSITION: { status: 409, message: 'the item is not in a state that allows this change' },
  // inbound text
  HL7_NOT_HL7: { status: 400, message: 'not an HL7 v2 message' },
  HL7_BATCH: { status: 400, message: 'an HL7 batch: send one message at a time' },
  HL7_BAD_SEGMENT: { status: 400, message: 'a line that is not an HL7 segment' },
  HL7_BAD_ENCODING: { status: 400, message: 'the MSH encoding characters cannot be read' },
  HL7_PARSER: { status: 400, message: 'the HL7 parser cannot read the message' },
  HL7_LIMIT: { status: 400, message: 'the message is larger than the HL7 limits' },
  HL7_PATH_SYNTAX: { status: 400, message: 'not an HL7 path' },
  FHIR_INTAKE: { status: 400, message: 'not a FHIR resource the adapter takes' },
  FHIR_FETCH: { status: 502, message: 'the FHIR server did not answer the fetch' },
  FHIR_SUBSCRIBE: { status: 502, message: "the EHR's FHIR server did not take the Subscription request" },
  JSON_SYNTAX: { status: 400, message: 'not JSON' },
  // mapping
  MAP_TRANSFORM: { status: 500, message: 'a transform of the tables failed' },
  MAP_WORKER: { status: 500, message: 'the mapping worker failed' },
  // outbound credentials and the ACR Connect sign-in
  TOKEN: { status: 500, message: 'no ACR Connect token' },
  SECRET_WRONG_KEY: { status: 500, message: 'a sealed secret was sealed with another key' },
  SECRET_TAMPERED: { status: 500, message: 'a sealed secret was altered' },
  SECRET_MALFORMED: { status: 500, message: 'a sealed secret cannot be read' },
  SIGNIN: { status: 400, message: 'the ACR Connect sign-in was refused: start again' },
  SIGNIN_CONFLICT: { status: 409, message: 'the sign-in was written by another instance at the same time: start again' },
  SIGNIN_UPSTREAM: { status: 502, message: 'ACR Connect did not answer the sign-in as expected' },
  SIGNIN_UNAVAILABLE: { status: 503, message: 'the ACR Connect sign-in cannot start now' },
  SIGNIN_NOT_CONFIGURED: { status: 404, message: 'no ACR Connect sign-in is configured' },
  NOT_DEIDENTIFIED: { status: 500, message: 'a transaction for the test profile did not go through the de-identification step: not sent' },
  // the HTTP edge: requests
  BAD_REQUEST: { status: 400, message: 'the request cannot be answered as asked' },
  REQUEST_UNREADABLE: { status: 400, message: 'the request cannot be read' },
  BODY_TOO_LARGE: { status: 413, message: 'the request body is larger than the limit (CDSR_BODY_LIMIT_BYTES)' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'unsupported content type' },
  ROUTE_NOT_FOUND: { status: 404, message: 'no such route (see docs/operations.md for the API)' },
  NOT_FOUND: { status: 404, message: 'no such item' },
  // the HTTP edge: who asks
  UNAUTHENTICATED: { status: 401, message: 'missing or wrong credentials (Authorization: Bearer <key> or X-API-Key)' },
  FORBIDDEN: { status: 403, message: 'this key may not do this' },
  SESSION_REQUIRED: { status: 401, message: 'sign in first: GET /ui/login' },
  CSRF: { status: 403, message: 'the form is stale or did not come from this console (CSRF token); reload the page' },
  CROSS_SITE: {
    status: 403,
    message: 'refused: the form was sent from another site, not from this console; open the console at its own address and try again',
  },
  TOO_MANY_FAILURES: { status: 429, message: 'too many wrong keys from this address: wait for the time Retry-After gives, then try again' },
  // the HTTP edge: the state of things
  NOT_SUBMITTER: { status: 409, message: 'this process does not submit' },
  NOTHING_TO_ACKNOWLEDGE: { status: 409, message: 'not cancelled after submission: nothing to acknowledge' },
  INTERNAL: { status: 500, message: 'the adapter failed on this request; see its log' },
} as const satisfies Record<string, ErrorKind>;

/** Codes of the exceptions, one per kind of failure; the class says which stage threw it. */
export type ErrorCode = keyof typeof ERRORS;

/** What an error says besides its message: the field (query parameter, body member, HL7 path) it concerns, and named values. */
export interface ErrorDetails {
  readonly field?: string;
  readonly [name: string]: string | number | readonly string[] | undefined;
}

export class AdapterError extends Error {
  readonly details: ErrorDetails;
  constructor(
    readonly code: ErrorCode,
    message: string = ERRORS[code].message,
    options?: { cause?: unknown; details?: ErrorDetails },
  ) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.details = options?.details ?? {};
  }

  /** The HTTP status of this error: its code's, from the table. */
  get status(): number {
    return ERRORS[this.code].status;
  }

  /** The field it concerns, when it names one. */
  get field(): string | undefined {
    return this.details.field;
  }
}

/** The message of anything thrown (an Error's message, else its string form). */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  try {
    return String(e);
  } catch {
    return 'unknown error';
  }
}

/** Anything thrown, as an Error (a thrown string or object is wrapped, with it as the cause). */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new AdapterError('INTERNAL', errorMessage(e), { cause: e });
}
