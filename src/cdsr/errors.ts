// The project's exceptions (fastify's errors-as-a-catalogue model): every one carries a code, the
// message a user reads, and the underlying `cause` when it wraps another error. Problems
// (problem.ts) are the values that travel to users; these are what code throws.

/** Codes of the exceptions, one per kind of failure; the class says which stage threw it. */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'STORE_UNAVAILABLE'
  | 'STORE_CORRUPT'
  | 'STORE_NOT_FOUND'
  | 'STATE_TRANSITION'
  | 'HL7_NOT_HL7'
  | 'HL7_BATCH'
  | 'HL7_BAD_SEGMENT'
  | 'HL7_BAD_ENCODING'
  | 'HL7_PARSER'
  | 'HL7_LIMIT'
  | 'HL7_PATH_SYNTAX'
  | 'FHIR_INTAKE'
  | 'FHIR_FETCH'
  | 'MAP_TRANSFORM'
  | 'MAP_WORKER'
  | 'TOKEN'
  | 'SECRET_WRONG_KEY'
  | 'SECRET_TAMPERED'
  | 'SECRET_MALFORMED'
  | 'SIGNIN'
  | 'JSON_SYNTAX'
  | 'BAD_REQUEST'
  | 'INTERNAL';

export class AdapterError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
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
