// Validates a CDSR transaction file without holding it in memory: the JSON is read as a token
// stream, each encounter is assembled, checked and dropped, and the transaction-level rules run
// at the end. Memory stays at the size of the largest encounter plus the problems kept.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { parser } from 'stream-json';
import type { Token } from 'stream-json/parser.js';
import Assembler from 'stream-json/assembler.js';
import verifier from 'stream-json/utils/verifier.js';
import type { Problem } from './problem.js';
import { CdsrValidator, type EncountersShape, type ValidatorOptions } from './validate.js';
import { cdMessage } from './codes.js';
import { AdapterError } from './errors.js';

export interface StreamValidationResult {
  /** Problems in the same order as validateTransaction gives them, at most `maxProblems`. */
  readonly problems: Problem[];
  /** Problems found beyond `maxProblems` (counted, not kept). */
  readonly omitted: number;
  readonly encounters: number;
  readonly consultations: number;
  /** Set when the input is not JSON; `problems` then holds only that problem. */
  readonly notJson: boolean;
}

export interface StreamValidationOptions extends ValidatorOptions {
  readonly maxProblems?: number;
  /** Called after each encounter with the count so far (for progress display). */
  readonly onProgress?: (encounters: number) => void;
}

// A stand-in for a member whose value is an object or array: never assembled, read as wrong type.
const CONTAINER = Object.freeze({});

export function validateTransactionFile(file: string, options: StreamValidationOptions): Promise<StreamValidationResult> {
  return validateTransactionSource(() => createReadStream(file), file, options);
}

/**
 * Validates the bytes that `open` streams; a syntax error is reported as a JSON_SYNTAX problem
 * with its line and column (found by reading the source a second time, so `open` is called twice
 * then). `name` labels the source in that problem.
 */
export async function validateTransactionSource(open: () => Readable, name: string, options: StreamValidationOptions): Promise<StreamValidationResult> {
  try {
    return await validateTransactionStream(open(), options);
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    const where = await locateSyntaxError(open());
    return notJsonResult(e.message, name, where);
  }
}

class JsonSyntaxError extends AdapterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('JSON_SYNTAX', message, options);
  }
}

/** Validates a readable byte stream. A syntax error throws; prefer validateTransactionFile. */
export async function validateTransactionStream(input: Readable, options: StreamValidationOptions): Promise<StreamValidationResult> {
  const validator = new CdsrValidator(options);
  const max = options.maxProblems ?? 10_000;
  const kept: Problem[] = [];
  let omitted = 0;
  const keep = (ps: readonly Problem[]): void => {
    for (const p of ps) {
      if (kept.length < max) kept.push(p);
      else omitted++;
    }
  };

  const header: Record<string, unknown> = {};
  let shape = { kind: 'absent' } as EncountersShape;
  let encounters = 0;
  let consultations = 0;
  let depth = 0;
  let rootKind: 'none' | 'object' | 'other' | 'null' = 'none';
  let key: string | undefined;
  let inEncounters = false;
  let skipUntil = -1; // while >= 0, tokens are passed over until depth comes back to this value
  let asm: Assembler | undefined;

  const tokens = input.pipe(parser.asStream({ packValues: true, streamValues: false }));
  // Tokens are taken from 'data' events, not `for await`: an await per token costs ten times more
  // wherever async hooks are on (test runners, APM agents).
  const onToken = (t: Token): void => {
    const opens = t.name === 'startObject' || t.name === 'startArray';
    const closes = t.name === 'endObject' || t.name === 'endArray';
    if (asm) {
      asm.consume(t);
      if (asm.done) {
        const value: unknown = asm.current;
        asm = undefined;
        keep(validator.validateEncounter(value, encounters, facilityOf(header)));
        consultations += countConsultations(value);
        encounters++;
        options.onProgress?.(encounters);
      }
      return;
    }
    if (closes) depth--;
    if (skipUntil >= 0) {
      if (opens) depth++;
      if (depth === skipUntil) skipUntil = -1;
      return;
    }
    if (depth === 0 && rootKind === 'none') {
      if (t.name === 'startObject') rootKind = 'object';
      else if (t.name === 'nullValue') rootKind = 'null';
      else {
        rootKind = 'other';
        if (opens) skipUntil = 0;
      }
      if (opens) depth++;
      return;
    }
    if (depth === 1 && t.name === 'keyValue') {
      key = t.value;
      return;
    }
    if (depth === 1 && key !== undefined) {
      const k = key;
      key = undefined;
      if (k === 'Encounters') {
        if (t.name === 'startArray') {
          inEncounters = true;
          shape = { kind: 'array', count: 0 };
          depth++;
          return;
        }
        shape = t.name === 'nullValue' ? { kind: 'absent' } : { kind: 'invalid' };
      } else {
        header[k] = scalar(t);
      }
      if (opens) {
        depth++;
        skipUntil = 1;
      }
      return;
    }
    if (depth === 2 && inEncounters) {
      if (t.name === 'endArray') {
        inEncounters = false;
        return;
      }
      if (opens) {
        asm = new Assembler();
        asm.consume(t);
        return;
      }
      // A scalar where an encounter object belongs.
      keep(validator.validateEncounter(scalar(t), encounters, facilityOf(header)));
      encounters++;
      return;
    }
    if (opens) depth++;
  };
  // Only blanks (or nothing) is "empty" (CD1004), not a syntax error.
  let sawContent = false;
  const watch = (chunk: Buffer | string): void => {
    if (/[^\s\uFEFF]/.test(typeof chunk === 'string' ? chunk : chunk.toString('utf8'))) {
      sawContent = true;
      input.off('data', watch);
    }
  };
  input.on('data', watch);
  const parsed = await new Promise<boolean>((resolve, reject) => {
    tokens.on('data', onToken);
    tokens.on('end', () => resolve(true));
    tokens.on('error', (e: Error) => (sawContent ? reject(new JsonSyntaxError(e.message)) : resolve(false)));
    input.on('error', reject);
  });
  if (!parsed) return { problems: [rootProblem('CD1004')], omitted: 0, encounters: 0, consultations: 0, notJson: false };

  if (shape.kind === 'array') shape = { kind: 'array', count: encounters };
  let headerProblems: Problem[];
  if (rootKind === 'none' || rootKind === 'null' || (rootKind === 'object' && isEmptyRoot(header, shape))) {
    headerProblems = [rootProblem('CD1004')];
  } else if (rootKind === 'other') {
    headerProblems = [rootProblem('CD1003')];
  } else {
    headerProblems = validator.checkHeader(header, shape);
  }
  const problems = [...headerProblems.slice(0, max), ...kept].slice(0, max);
  omitted += headerProblems.length + kept.length - problems.length;
  return { problems, omitted, encounters, consultations, notJson: false };
}

// The Facility_ID read so far: it selects the facility's time zone (timeZoneOf) for the encounters
// that follow it. Every file the adapter writes, and the spec's example, has it before Encounters;
// a file with it after Encounters has its encounters' dates read in the validator's own zone.
function facilityOf(header: Record<string, unknown>): string | undefined {
  const v = header.Facility_ID;
  if (typeof v === 'string') return v.trim() === '' ? undefined : v.trim();
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;
}

function isEmptyRoot(header: Record<string, unknown>, shape: EncountersShape): boolean {
  return Object.keys(header).length === 0 && shape.kind === 'absent';
}

function rootProblem(code: 'CD1003' | 'CD1004'): Problem {
  return { code, message: cdMessage(code), severity: 'error', scope: 'transaction', path: '' };
}

function scalar(t: Token): unknown {
  switch (t.name) {
    case 'stringValue':
      return t.value;
    case 'numberValue':
      return Number(t.value);
    case 'nullValue':
      return null;
    case 'trueValue':
      return true;
    case 'falseValue':
      return false;
    default:
      return CONTAINER;
  }
}

function countConsultations(encounter: unknown): number {
  if (typeof encounter !== 'object' || encounter === null) return 0;
  const c = (encounter as { Consultations?: unknown }).Consultations;
  return Array.isArray(c) ? c.length : 0;
}

async function locateSyntaxError(input: Readable): Promise<{ line?: number; column?: number }> {
  const v = input.pipe(verifier.asStream());
  try {
    for await (const _ of v) {
      // the verifier produces nothing; it only throws at the first error
    }
  } catch (e) {
    const err = e as { line?: number; pos?: number };
    return { ...(err.line !== undefined ? { line: err.line } : {}), ...(err.pos !== undefined ? { column: err.pos } : {}) };
  }
  return {};
}

function notJsonResult(message: string, file: string, where: { line?: number; column?: number }): StreamValidationResult {
  const problem: Problem = {
    code: 'JSON_SYNTAX',
    message: `not valid JSON: ${message.replace(/^Parser (cannot parse input: )?/, '')}`,
    severity: 'error',
    scope: 'file',
    path: '',
    file,
    ...where,
  };
  return { problems: [problem], omitted: 0, encounters: 0, consultations: 0, notJson: true };
}
