// FHIR intake: what an inbound FHIR payload holds. A resource; a Bundle (transaction, batch,
// collection, history, searchset); or a subscription notification in the R4 backport
// (Parameters first entry), R4B (SubscriptionStatus) or R5 form, or its status posted alone.
// Resources come out with the keys by which references can find them.
import type { Resource } from 'fhir/r4.js';
import { AdapterError } from '../cdsr/errors.js';

/**
 * A resource as received: the R4 Resource base (resourceType, id, meta) typed from @types/fhir,
 * the rest of its elements read with care (outside input is not trusted to follow its type).
 */
export type FhirResource = Readonly<Resource> & Readonly<Record<string, unknown>>;

export interface NotificationInfo {
  /** What carried it: a SubscriptionStatus (R4B, R5) or the R4 backport's Parameters. */
  readonly form: 'SubscriptionStatus' | 'Parameters';
  readonly subscription: string;
  readonly type: string;
  /** events-since-subscription-start: the number of the latest event the server has sent. */
  readonly eventsSinceStart?: string;
  /** event numbers carried (focus present or not) */
  readonly events: readonly { readonly eventNumber: string; readonly focus?: string }[];
}

export interface Intake {
  readonly resources: readonly FhirResource[];
  /** fullUrl → resource for the Bundle's entries (urn:uuid references). */
  readonly byFullUrl: ReadonlyMap<string, FhirResource>;
  readonly notification?: NotificationInfo;
  /** The type of the Bundle posted (history, subscription-notification, transaction, …); undefined for a resource. */
  readonly bundleType?: string;
  /** References named as notification focus whose resource did not come with it (id-only). */
  readonly missingFocus: readonly string[];
}

export class FhirIntakeError extends AdapterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FHIR_INTAKE', message, options);
  }
}

function isResource(v: unknown): v is FhirResource {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { resourceType?: unknown }).resourceType === 'string';
}

type Json = Record<string, unknown>;
const arr = (v: unknown): Json[] => (Array.isArray(v) ? (v.filter((x) => typeof x === 'object' && x !== null) as Json[]) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

function refOf(v: unknown): string | undefined {
  return typeof v === 'object' && v !== null ? str((v as Json).reference) : undefined;
}

/**
 * A notification's focus: its reference, or (a focus given by identifier only, as some EHRs send)
 * a search for it, `ServiceRequest?identifier=system|value`, to be run on the FHIR server.
 */
function focusOf(v: unknown): string | undefined {
  const ref = refOf(v);
  if (ref !== undefined || typeof v !== 'object' || v === null) return ref;
  const f = v as Json;
  const id = typeof f.identifier === 'object' && f.identifier !== null ? (f.identifier as Json) : undefined;
  const value = str(id?.value);
  if (value === undefined || value === '') return undefined;
  const system = str(id?.system);
  const type = str(f.type) ?? 'ServiceRequest';
  return `${type}?identifier=${system !== undefined && system !== '' ? `${system}|` : ''}${value}`;
}

/** Is a focus a search (given by identifier) rather than a reference? */
export const isFocusSearch = (focus: string): boolean => focus.includes('?identifier=');

// R4 backport: Parameters with parts; R4B/R5: SubscriptionStatus with notificationEvent.
function readNotification(first: FhirResource): NotificationInfo | undefined {
  if (first.resourceType === 'SubscriptionStatus') {
    const since = str(first.eventsSinceSubscriptionStart);
    return {
      form: 'SubscriptionStatus',
      subscription: refOf(first.subscription) ?? '',
      type: str(first.type) ?? '',
      ...(since !== undefined ? { eventsSinceStart: since } : {}),
      events: arr(first.notificationEvent).map((e) => {
        const focus = focusOf(e.focus);
        return { eventNumber: str(e.eventNumber) ?? '', ...(focus !== undefined ? { focus } : {}) };
      }),
    };
  }
  if (first.resourceType === 'Parameters') {
    const params = arr(first.parameter);
    const get = (name: string) => params.find((p) => p.name === name);
    if (!get('subscription') && !get('type')) return undefined;
    const since = str(get('events-since-subscription-start')?.valueString) ?? str(get('events-since-subscription-start')?.valueInteger64);
    return {
      form: 'Parameters',
      subscription: refOf(get('subscription')?.valueReference) ?? str(get('subscription')?.valueString) ?? '',
      type: str(get('type')?.valueCode) ?? '',
      ...(since !== undefined ? { eventsSinceStart: since } : {}),
      events: params
        .filter((p) => p.name === 'notification-event')
        .map((p) => {
          const parts = arr(p.part);
          const part = (n: string) => parts.find((x) => x.name === n);
          const focus = focusOf(part('focus')?.valueReference);
          return {
            eventNumber: str(part('event-number')?.valueString) ?? str(part('event-number')?.valueInteger64) ?? str(part('event-number')?.valueInteger) ?? '',
            ...(focus !== undefined ? { focus } : {}),
          };
        }),
    };
  }
  return undefined;
}

/** Nesting past this is refused before anything walks it (a FHIR resource needs a few dozen levels at most). */
export const FHIR_MAX_DEPTH = 100;

/** Whether a JSON value nests deeper than `limit` (walked without recursion). */
function deeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, d + 1]);
  }
  return false;
}

/** Reads a parsed JSON payload. Throws FhirIntakeError when it is not FHIR. */
export function readIntake(json: unknown): Intake {
  if (deeperThan(json, FHIR_MAX_DEPTH))
    throw new FhirIntakeError(`nested deeper than ${FHIR_MAX_DEPTH} levels (the limit): not a FHIR resource this adapter reads`);
  if (!isResource(json)) throw new FhirIntakeError('not a FHIR resource: no resourceType');
  if (json.resourceType !== 'Bundle') {
    // a notification's status posted alone, outside its Bundle: a notification that carries no resource
    const alone = readNotification(json);
    if (alone)
      return { resources: [], byFullUrl: new Map(), notification: alone, missingFocus: alone.events.flatMap((e) => (e.focus !== undefined ? [e.focus] : [])) };
    return { resources: [json], byFullUrl: new Map(), missingFocus: [] };
  }
  const bundleType = str(json.type);
  const entries = arr(json.entry);
  const byFullUrl = new Map<string, FhirResource>();
  const resources: FhirResource[] = [];
  for (const e of entries) {
    if (!isResource(e.resource)) continue;
    const full = str(e.fullUrl);
    if (full !== undefined) byFullUrl.set(full, e.resource);
    resources.push(e.resource);
  }
  const firstResource = resources[0];
  const notification =
    json.type === 'history' || json.type === 'subscription-notification' ? (firstResource ? readNotification(firstResource) : undefined) : undefined;
  const typed = bundleType !== undefined ? { bundleType } : {};
  if (!notification) return { resources, byFullUrl, ...typed, missingFocus: [] };
  const content = resources.slice(1);
  const present = new Set(content.flatMap((r) => (r.id !== undefined ? [`${r.resourceType}/${r.id}`] : [])));
  const missingFocus = notification.events
    .flatMap((e) => (e.focus !== undefined ? [e.focus] : []))
    .filter((f) => isFocusSearch(f) || (!present.has(f.split('/').slice(-2).join('/')) && !byFullUrl.has(f)));
  return { resources: content, byFullUrl, notification, ...typed, missingFocus };
}

/** Finds referenced resources among those at hand: by fullUrl, then by Type/id. */
export class ResourcePool {
  private readonly byKey = new Map<string, FhirResource>();
  private readonly byUrl = new Map<string, FhirResource>();

  add(resource: FhirResource, fullUrl?: string): void {
    if (resource.id !== undefined) this.byKey.set(`${resource.resourceType}/${resource.id}`, resource);
    if (fullUrl !== undefined) this.byUrl.set(fullUrl, resource);
  }

  addIntake(intake: Intake): void {
    for (const [url, r] of intake.byFullUrl) this.add(r, url);
    for (const r of intake.resources) this.add(r);
  }

  resolve(reference: string | undefined): FhirResource | undefined {
    if (reference === undefined) return undefined;
    const byUrl = this.byUrl.get(reference);
    if (byUrl) return byUrl;
    const parts = reference.split('/_history/')[0]!.split('/');
    return this.byKey.get(parts.slice(-2).join('/'));
  }
}
