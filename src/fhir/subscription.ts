// The Subscription the adapter needs at an EHR's FHIR server, in the form its FHIR version takes,
// and what a CapabilityStatement or a Subscription read back says. Pure: no requests here (the
// command that sends them is cli/subscribe.ts).
//
// Where each shape comes from:
// - R4 and R4B: the Subscriptions R5 Backport IG (STU 1.1), profile "R4/B Topic-Based Subscription",
//   https://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition-backport-subscription.html
//   (criteria = the topic's canonical; its filters in the backport-filter-criteria extension on
//   `_criteria`; channel.payload = the MIME type, with the backport-payload-content extension on
//   `_payload`), its extensions https://hl7.org/fhir/uv/subscriptions-backport/artifacts.html and
//   https://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition-backport-payload-content.html.
//   R4B takes the same Subscription (the profile is one for both); what differs in R4B is that
//   SubscriptionTopic is a resource of the server and notifications carry SubscriptionStatus
//   (https://hl7.org/fhir/uv/subscriptions-backport/components.html, and the R4B server
//   CapabilityStatement https://hl7.org/fhir/uv/subscriptions-backport/CapabilityStatement-backport-subscription-server.html).
// - R5: the Subscription resource, https://hl7.org/fhir/R5/subscription.html (topic, filterBy,
//   channelType from http://terminology.hl7.org/CodeSystem/subscription-channel-type, endpoint,
//   contentType, content; R5 has no header element: a rest-hook's HTTP headers are its
//   `parameter` entries, name = the header's name, value = its value,
//   https://hl7.org/fhir/R5/subscription-definitions.html#Subscription.parameter).
// - Topics a server offers: the backport IG's capabilitystatement-subscriptiontopic-canonical
//   extension on the CapabilityStatement's Subscription resource entry,
//   https://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition-capabilitystatement-subscriptiontopic-canonical.html.
// - status "requested" on creation: https://hl7.org/fhir/R4/subscription.html#status (R4) and
//   https://hl7.org/fhir/R5/subscription.html (R5): the server moves it to active (after its handshake) or error.

export type FhirRelease = 'R4' | 'R4B' | 'R5';
export const PAYLOAD_CONTENTS = ['full-resource', 'id-only'] as const;
export type PayloadContent = (typeof PAYLOAD_CONTENTS)[number];

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport';
export const BACKPORT_PROFILE = `${BACKPORT}/StructureDefinition/backport-subscription`;
export const BACKPORT_FILTER_CRITERIA = `${BACKPORT}/StructureDefinition/backport-filter-criteria`;
export const BACKPORT_PAYLOAD_CONTENT = `${BACKPORT}/StructureDefinition/backport-payload-content`;
export const BACKPORT_TOPIC_CANONICAL = `${BACKPORT}/StructureDefinition/capabilitystatement-subscriptiontopic-canonical`;
const BACKPORT_IG = `${BACKPORT}/ImplementationGuide/hl7.fhir.uv.subscriptions-backport`;
const BACKPORT_SERVER_CAPABILITIES = [
  `${BACKPORT}/CapabilityStatement/backport-subscription-server`,
  `${BACKPORT}/CapabilityStatement/backport-subscription-server-r4`,
];
export const R5_CHANNEL_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/subscription-channel-type';
export const FHIR_JSON = 'application/fhir+json';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.flatMap((x) => (obj(x) ? [x as Json] : [])) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** The release a FHIR version number belongs to, when it is one this command takes. */
export function releaseOf(fhirVersion: string): FhirRelease | undefined {
  if (/^4\.0\.\d+$/.test(fhirVersion)) return 'R4';
  if (/^4\.3\.\d+$/.test(fhirVersion)) return 'R4B';
  if (/^5\.0\.\d+$/.test(fhirVersion)) return 'R5';
  return undefined;
}

/** What a server's CapabilityStatement says about subscriptions. */
export interface ServerCapabilities {
  readonly fhirVersion: string;
  readonly release?: FhirRelease;
  /** Signs that it takes the R4/R4B backport form (empty: none). */
  readonly backport: readonly string[];
  /** SubscriptionTopic canonicals it advertises. */
  readonly topics: readonly string[];
}

/** Reads a CapabilityStatement; undefined when the value is not one. */
export function readCapabilities(cs: unknown): ServerCapabilities | undefined {
  const c = obj(cs);
  if (c?.resourceType !== 'CapabilityStatement') return undefined;
  const fhirVersion = str(c.fhirVersion) ?? '';
  const release = releaseOf(fhirVersion);
  const resources = list(c.rest).flatMap((r) => list(r.resource));
  const backport: string[] = [];
  const topics: string[] = [];
  if (strings(c.instantiates).some((u) => BACKPORT_SERVER_CAPABILITIES.includes(u.split('|')[0]!)))
    backport.push('instantiates the backport IG server CapabilityStatement');
  if (strings(c.implementationGuide).some((u) => u.split('|')[0] === BACKPORT_IG)) backport.push('names the backport IG');
  for (const r of resources) {
    const type = str(r.type);
    if (type === 'Subscription' && strings(r.supportedProfile).some((p) => p.split('|')[0] === BACKPORT_PROFILE))
      backport.push('Subscription supports the backport-subscription profile');
    // R4 has no SubscriptionTopic resource: a server listing one serves the R4B/R5 model
    if (type === 'SubscriptionTopic' && release !== 'R4') backport.push('serves SubscriptionTopic');
    for (const e of list(r.extension)) {
      const topic = str(e.valueCanonical) ?? str(e.valueUri);
      if (e.url === BACKPORT_TOPIC_CANONICAL && topic !== undefined && !topics.includes(topic)) topics.push(topic);
    }
  }
  if (topics.length > 0) backport.push('advertises SubscriptionTopic canonicals');
  return { fhirVersion, ...(release ? { release } : {}), backport, topics };
}

/** One filter of a topic's stream: `Type?param[:modifier]=value`, as the backport's criteria write them. */
export interface Filter {
  readonly resourceType: string;
  readonly parameter: string;
  readonly modifier?: string;
  readonly value: string;
}

export class FilterSyntaxError extends Error {}

/**
 * Reads search-style criteria, `ServiceRequest?category=http://snomed.info/sct|363679005`, into
 * its filters (one per parameter; several `&`-joined parameters all apply). Values are taken as
 * written (no percent-decoding): the backport form sends the text itself.
 */
export function parseCriteria(criteria: string): Filter[] {
  const m = /^([A-Z][A-Za-z]{0,63})\?(.+)$/.exec(criteria);
  if (!m)
    throw new FilterSyntaxError(`${JSON.stringify(criteria)} is not Type?parameter=value (e.g. ServiceRequest?category=http://snomed.info/sct|363679005)`);
  return m[2]!.split('&').map((pair) => {
    const p = /^([a-z][a-zA-Z0-9_.-]{0,63})(?::([a-zA-Z-]{1,32}))?=(.+)$/.exec(pair);
    if (!p) throw new FilterSyntaxError(`${JSON.stringify(pair)} in ${JSON.stringify(criteria)} is not parameter=value`);
    return { resourceType: m[1]!, parameter: p[1]!, ...(p[2] !== undefined ? { modifier: p[2] } : {}), value: p[3]! };
  });
}

/** A filter written back as criteria (one parameter). */
export const criteriaOf = (f: Filter): string => `${f.resourceType}?${f.parameter}${f.modifier !== undefined ? `:${f.modifier}` : ''}=${f.value}`;

export interface SubscriptionSettings {
  readonly release: FhirRelease;
  /** The adapter's public /fhir URL. */
  readonly endpoint: string;
  readonly topic: string;
  /** Search-style criteria, each `Type?param=value[&…]`. */
  readonly criteria: readonly string[];
  readonly content: PayloadContent;
  /** The header the EHR sends with each notification, `Authorization: Bearer <key>`. */
  readonly header: string;
  readonly reason: string;
}

/** An HTTP header as an R5 Subscription.parameter: `Name: value` → { name, value }. */
function headerParameter(header: string): { name: string; value: string } {
  const i = header.indexOf(':');
  return i < 0 ? { name: header.trim(), value: '' } : { name: header.slice(0, i).trim(), value: header.slice(i + 1).trim() };
}

/** The Subscription to create, in the release's form. */
export function buildSubscription(s: SubscriptionSettings): Json & { resourceType: 'Subscription' } {
  if (s.release === 'R5') {
    const filterBy = s.criteria.flatMap(parseCriteria).map((f) => ({
      resourceType: f.resourceType,
      filterParameter: f.parameter,
      ...(f.modifier !== undefined ? { modifier: f.modifier } : {}),
      value: f.value,
    }));
    return {
      resourceType: 'Subscription',
      status: 'requested',
      reason: s.reason,
      topic: s.topic,
      ...(filterBy.length > 0 ? { filterBy } : {}),
      channelType: { system: R5_CHANNEL_TYPE_SYSTEM, code: 'rest-hook' },
      endpoint: s.endpoint,
      parameter: [headerParameter(s.header)],
      contentType: FHIR_JSON,
      content: s.content,
    };
  }
  for (const c of s.criteria) parseCriteria(c);
  return {
    resourceType: 'Subscription',
    meta: { profile: [BACKPORT_PROFILE] },
    status: 'requested',
    reason: s.reason,
    criteria: s.topic,
    ...(s.criteria.length > 0 ? { _criteria: { extension: s.criteria.map((c) => ({ url: BACKPORT_FILTER_CRITERIA, valueString: c })) } } : {}),
    channel: {
      type: 'rest-hook',
      endpoint: s.endpoint,
      payload: FHIR_JSON,
      _payload: { extension: [{ url: BACKPORT_PAYLOAD_CONTENT, valueCode: s.content }] },
      header: [s.header],
    },
  };
}

/** A Subscription as read back from a server, whatever its version's form. */
export interface SubscriptionView {
  readonly id: string;
  readonly status: string;
  readonly endpoint: string;
  readonly topic: string;
  /** full-resource, id-only, empty; '' when it says none. */
  readonly content: string;
  /** Its filters as criteria, in the order given. */
  readonly criteria: readonly string[];
  readonly headers: readonly string[];
  /** The server's error text (R4 Subscription.error), when it gives one. */
  readonly error?: string;
}

export function readSubscription(resource: unknown): SubscriptionView | undefined {
  const r = obj(resource);
  if (r?.resourceType !== 'Subscription') return undefined;
  const channel = obj(r.channel);
  const r5 = r.topic !== undefined || channel === undefined;
  const criteria = r5
    ? list(r.filterBy).map((f) =>
        criteriaOf({
          resourceType: str(f.resourceType) ?? '',
          parameter: str(f.filterParameter) ?? '',
          ...(str(f.modifier) !== undefined ? { modifier: str(f.modifier)! } : {}),
          value: str(f.value) ?? '',
        }),
      )
    : list(obj(r._criteria)?.extension).flatMap((e) => (e.url === BACKPORT_FILTER_CRITERIA && str(e.valueString) !== undefined ? [str(e.valueString)!] : []));
  const content = r5
    ? (str(r.content) ?? '')
    : ((list(obj(channel._payload)?.extension).find((e) => e.url === BACKPORT_PAYLOAD_CONTENT)?.valueCode as string | undefined) ?? '');
  const error = str(r.error);
  return {
    id: str(r.id) ?? '',
    status: str(r.status) ?? '',
    endpoint: (r5 ? str(r.endpoint) : str(channel.endpoint)) ?? '',
    topic: (r5 ? str(r.topic) : str(r.criteria)) ?? '',
    content: typeof content === 'string' ? content : '',
    criteria,
    headers: r5 ? list(r.parameter).flatMap((p) => (str(p.name) !== undefined ? [`${str(p.name)!}: ${str(p.value) ?? ''}`] : [])) : strings(channel.header),
    ...(error !== undefined ? { error } : {}),
  };
}

/** An endpoint compared as the EHR calls it: without a trailing slash. */
export const sameEndpoint = (a: string, b: string): boolean => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

/** Each header with its value hidden: `Authorization: ****`. */
export const maskHeader = (h: string): string => {
  const i = h.indexOf(':');
  return i < 0 ? '****' : `${h.slice(0, i)}: ****`;
};

/** A Subscription resource with every header's value hidden (R4/R4B channel.header, R5 parameter). */
export function maskSubscription<T extends Json>(resource: T): T {
  const copy = JSON.parse(JSON.stringify(resource)) as T;
  const top: Json = copy;
  if (Array.isArray(top.parameter)) top.parameter = list(top.parameter).map((p) => ({ ...p, value: '****' }));
  const channel = obj(top.channel);
  if (channel && Array.isArray(channel.header)) channel.header = strings(channel.header).map(maskHeader);
  return copy;
}

/** How an existing Subscription differs from the one wanted ([] = not at all). */
export function differences(have: SubscriptionView, want: SubscriptionView): string[] {
  const out: string[] = [];
  if (have.content !== want.content) out.push(`payload ${have.content || '(none)'} → ${want.content}`);
  if (have.criteria.join('\n') !== want.criteria.join('\n'))
    out.push(`filters ${have.criteria.length > 0 ? have.criteria.join(' & ') : '(none)'} → ${want.criteria.length > 0 ? want.criteria.join(' & ') : '(none)'}`);
  // the key is compared, never shown
  if (have.headers.join('\n') !== want.headers.join('\n')) out.push('channel header (the send key) changed');
  if (have.status === 'error' || have.status === 'off') out.push(`status ${have.status} → requested`);
  return out;
}
