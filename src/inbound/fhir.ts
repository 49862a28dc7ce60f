// Inbound FHIR: resources, Bundles and subscription notifications (R4 backport, R4B, R5), answered
// with OperationOutcome. References are resolved from the payload, then from
// resources stored earlier, then (when FHIR_SERVER_URL is set) from the FHIR server; id-only
// notifications are fetched there, and kept as pending when the fetch fails.
import { asError, errorMessage } from '../cdsr/errors.js';
import type { Problem } from '../cdsr/problem.js';
import { FhirIntakeError, isFocusSearch, readIntake, ResourcePool, type FhirResource, type Intake } from '../fhir/intake.js';
import { refKey, resolveReferences, versionOf } from '../fhir/resolve.js';
import { fhirContext, isMappedResource, mapFhirResource, orderPlaces } from '../mapping/map-fhir.js';
import type { MapOutcome } from '../mapping/outcome.js';
import { StoreUnavailableError } from '../store/store.js';
import type { IngestDeps, Origin } from './context.js';
import { fhirHttpStatus, issuesOf, operationOutcome, storeMessage, transientOutcome } from './outcome.js';

export interface FhirReply {
  readonly status: number;
  /** A refusal by rate or store ceiling: when to send again (the Retry-After header). */
  readonly retryAfterS?: number;
  readonly body: ReturnType<typeof operationOutcome>;
  /** The messages it stored, in order (none for a refusal or a ping). */
  readonly messageIds?: readonly number[];
}

/** What a notification whose focus could not be fetched is stored as (on arrival, and when a reprocessing cannot fetch it either). */
export function pendingOutcome(focus: string, problems: readonly Problem[]): MapOutcome {
  const search = isFocusSearch(focus);
  const key = search ? focus : refKey(focus);
  return {
    disposition: 'error',
    problems,
    // the order is known by its reference or identifier until it can be read
    // (by identifier: its value, without the system)
    ...(key.startsWith('ServiceRequest')
      ? {
          orders: [{ facilityId: '', encounterId: '', numbers: [search ? focus.replace(/^.*identifier=(?:[^|]*\|)?/, '') : key] }],
          hold: 'pending_fetch' as const,
        }
      : {}),
  };
}

export async function ingestFhir(deps: IngestDeps, body: string, origin: Origin): Promise<FhirReply> {
  const now = deps.clock();
  if (body.trim() === '')
    return { status: 200, body: operationOutcome([{ severity: 'information', code: 'informational', diagnostics: 'empty notification (ping) received' }]) };
  const refused = await deps.admission?.admit(origin.auth, body.length);
  if (refused) {
    const code = refused.reason === 'rate' ? 'throttled' : 'transient';
    return {
      status: refused.httpStatus,
      retryAfterS: refused.retryAfterS,
      body: operationOutcome([{ severity: 'error', code, diagnostics: `${refused.code}: ${refused.message}` }]),
    };
  }
  let intake: Intake;
  try {
    intake = readIntake(JSON.parse(body) as unknown);
  } catch (e) {
    // the parser's own text quotes the body: only where it stopped is said
    const at = /position (\d+)/.exec(errorMessage(e))?.[1];
    const why = e instanceof FhirIntakeError ? e.message : `not JSON${at !== undefined ? ` (at character ${at})` : ''}`;
    return { status: 400, body: operationOutcome([{ severity: 'error', code: 'structure', diagnostics: why }]) };
  }
  try {
    return await ingestIntake(deps, intake, origin, now);
  } catch (e) {
    if (!(e instanceof StoreUnavailableError)) throw e;
    return { status: 503, body: transientOutcome() };
  }
}

async function ingestIntake(deps: IngestDeps, intake: Intake, origin: Origin, now: Date): Promise<FhirReply> {
  const { contentType, auth } = origin;
  const edited = origin.edit ? { editedFrom: { messageId: origin.edit.messageId, by: origin.edit.by } } : {};
  const ids: number[] = [];
  const isNotification = intake.notification !== undefined;
  if (intake.notification && intake.notification.subscription !== '') {
    const numbers = intake.notification.events.map((e) => Number(e.eventNumber)).filter((n) => Number.isSafeInteger(n) && n > 0);
    const since = Number(intake.notification.eventsSinceStart);
    await deps.store.recordEvents(intake.notification.subscription, numbers, Number.isSafeInteger(since) ? since : undefined, now);
  }
  const sender = origin.edit?.sender ?? intake.notification?.subscription ?? 'fhir';
  const resources = [...intake.resources];
  const problems: Problem[] = [];
  const pending: { focus: string; why: string }[] = [];
  for (const focus of intake.missingFocus) {
    const fetched = deps.fhirFetcher
      ? await deps.fhirFetcher.read(focus).catch((e: unknown) => asError(e))
      : new Error('FHIR_SERVER_URL is not set, so it cannot be fetched');
    if (fetched instanceof Error) pending.push({ focus, why: fetched.message });
    else resources.push(fetched);
  }
  const pool = new ResourcePool();
  pool.addIntake(intake);
  for (const r of resources) pool.add(r);
  let applied = 0;
  let failed = 0;
  let stored = 0;
  for (const { focus, why } of pending) {
    const search = isFocusSearch(focus);
    const key = search ? focus : refKey(focus);
    const meta = {
      channel: 'fhir' as const,
      sender,
      controlId: `pending:${key}`,
      contentType,
      auth,
      raw: JSON.stringify({ pendingFocus: focus }),
      receivedAt: now,
      ...edited,
    };
    const what = search ? `${focus} (a focus given by identifier only)` : focus;
    const pendingResult = await deps.store.ingest(
      meta,
      pendingOutcome(focus, [
        {
          code: 'FHIR_FETCH',
          message: `${what} could not be fetched from the FHIR server (${why}); kept for retry`,
          severity: 'error',
          scope: 'file',
          path: '',
        },
      ]),
    );
    ids.push(pendingResult.messageId);
    stored++;
    problems.push({
      code: 'FHIR_FETCH',
      message: `${what} could not be fetched (${why}); kept for retry (replay pending)`,
      severity: 'warning',
      scope: 'file',
      path: '',
    });
  }
  await resolveReferences(resources, pool, (key) => deps.store.resource(key), deps.fhirFetcher);
  let kept = 0;
  // a delivery of several ServiceRequests: each one's problems name it (its place and numbers)
  const places = orderPlaces(resources, deps.mappings.current);
  for (const r of resources) {
    const key = `${r.resourceType}/${r.id ?? ''}`;
    const raw = JSON.stringify(r);
    if (!isMappedResource(r, deps.mappings.current)) {
      if (r.id !== undefined) {
        await deps.store.saveResources([{ key, version: versionOf(r), body: raw }], 0, now);
        kept++;
      }
      continue;
    }
    // the Patient it names, as resolved here (a Bundle's urn:uuid reference too): the search of orders by MRN finds it by that
    const patient = fhirContext(r, pool).vars.patient as FhirResource | null;
    const meta = {
      channel: 'fhir' as const,
      sender,
      controlId: `${key}/_history/${versionOf(r)}`,
      contentType,
      auth,
      raw,
      receivedAt: now,
      ...edited,
      ...(patient?.resourceType === 'Patient' && typeof patient.id === 'string' && patient.id !== '' ? { patient: `Patient/${patient.id}` } : {}),
    };
    const { result, outcome } = await storeMessage(deps.store, meta, mapFhirResource(r, pool, deps.mappings.current, deps, places.get(r)), key);
    if (result) ids.push(result.messageId);
    if (r.id !== undefined) await deps.store.saveResources([{ key, version: versionOf(r), body: raw }], result?.messageId ?? 0, now);
    if (result) stored++;
    problems.push(...(result?.problems ?? outcome.problems));
    if (result?.status === 'applied' || result?.status === 'duplicate') applied++;
    else failed++;
  }
  const notificationShaped = isNotification || intake.bundleType === 'history' || intake.bundleType === 'subscription-notification';
  if (notificationShaped && stored === 0 && failed === 0) {
    // a notification that changes nothing still leaves its row (ignored, with why), for the audit
    const why = nothingToApply(intake, resources);
    const n = intake.notification;
    const events = (n?.events ?? []).map((e) => e.eventNumber).filter((e) => e !== '');
    const what = n ? (n.type !== '' ? n.type : 'notification') : (intake.bundleType ?? 'notification');
    const raw = JSON.stringify(
      n
        ? { subscription: n.subscription, type: n.type, events }
        : { bundleType: intake.bundleType, entries: intake.resources.map((r) => `${r.resourceType}/${r.id ?? ''}`) },
    );
    const meta = {
      channel: 'fhir' as const,
      sender,
      controlId: `${what}:${events.join(',') || now.toISOString()}`,
      contentType,
      auth,
      raw,
      receivedAt: now,
      ...edited,
    };
    const problem: Problem = { code: 'FHIR_NO_CHANGE', message: why, severity: 'warning', scope: 'file', path: '' };
    ids.push((await deps.store.ingest(meta, { disposition: 'unsupported', problems: [problem] })).messageId);
    problems.push(problem);
  } else if (stored === 0 && failed === 0 && kept === 0 && pending.length === 0) {
    // neither a notification nor anything mapped or kept: a 200 would claim it was taken
    const what =
      intake.bundleType !== undefined
        ? `a Bundle of type ${intake.bundleType} with ${intake.resources.length === 0 ? 'no entry' : `no resource the tables map or keep (${typesOf(intake.resources)} without an id)`}`
        : `${typesOf(intake.resources)} without an id, which the tables do not map`;
    return {
      status: 400,
      body: operationOutcome([
        { severity: 'error', code: 'not-supported', diagnostics: `nothing to apply or keep: ${what}; not a subscription notification either` },
      ]),
    };
  }
  const summary = {
    severity: 'information' as const,
    code: 'informational',
    diagnostics: `${applied} resource(s) applied, ${failed} kept in the error queue, ${pending.length} pending fetch`,
  };
  const status = fhirHttpStatus({ notification: isNotification, failed });
  // the request's answer, on every message it stored (the console's ACK column); the answer stands if this cannot be written
  await deps.store.recordAnswerStatus(ids, status).catch((e: unknown) => {
    if (!(e instanceof StoreUnavailableError)) throw e;
  });
  return { status, body: operationOutcome([summary, ...issuesOf(problems)]), messageIds: ids };
}

const typesOf = (rs: readonly { resourceType: string }[]): string => [...new Set(rs.map((r) => r.resourceType))].join(', ');

// notification types that never carry an event
const STATUS_ONLY = new Set(['heartbeat', 'handshake', 'query-status']);

/** Why a notification (or a history / subscription-notification Bundle) applied nothing, as the message row says. */
function nothingToApply(intake: Intake, resources: readonly { resourceType: string }[]): string {
  const n = intake.notification;
  const carried = resources.length > 0 ? `carries no resource the tables map (${typesOf(resources)} kept for references)` : undefined;
  if (!n) {
    const what = `Bundle of type ${intake.bundleType ?? '(none)'}`;
    if (carried) return `${what} without a SubscriptionStatus ${carried}: nothing to apply`;
    return `${what} ${intake.resources.length === 0 ? 'has no entry' : 'without a SubscriptionStatus carries no resource'}: nothing to apply`;
  }
  const events = n.events.map((e) => e.eventNumber).filter((e) => e !== '');
  const what = `${n.form === 'Parameters' ? 'R4 backport notification' : 'SubscriptionStatus'} of type ${n.type !== '' ? n.type : '(none)'}${events.length > 0 ? `, event ${events.join(', ')}` : ''}`;
  if (carried) return `${what}: ${carried}: nothing to apply`;
  if (n.events.length === 0) return STATUS_ONLY.has(n.type) ? `${what}: nothing to apply` : `${what}: names no event and carries no resource: nothing to apply`;
  if (n.events.every((e) => e.focus === undefined)) return `${what}: no focus and no resource: nothing to apply`;
  return `${what}: carries no resource: nothing to apply`;
}
