// Orders: the order ledger searched by any order number, MRN, encounter and facility, filtered by state
// and reason (the Overview's counts link here), and one order's timeline: every message that
// touched it, its record, and what NRDR was sent and answered about it.
import { looseHeader } from '../../hl7v2/parse.js';
import type { OrderRow } from '../../store/ledger.js';
import { ORDER_REASONS, ORDER_STATES, type ConsultationRow, type MessageRow, type TransactionRow } from '../../store/store.js';
import { html, link, problemList, qs, table, when, zoneIn, type Html, type PageContext } from './html.js';
import { ackSent } from './messages-page.js';

export const ORDER_SEARCH_FIELDS = ['order', 'mrn', 'encounter', 'facility', 'state', 'reason', 'day'] as const;
export type OrderQuery = Partial<Record<(typeof ORDER_SEARCH_FIELDS)[number] | 'after', string>>;

export const orderHref = (id: number): string => `/ui/orders/${id}`;
const recordHref = (facilityId: string, encounterId: string) => `/ui/records/${encodeURIComponent(facilityId)}/${encodeURIComponent(encounterId)}`;
/** The orders of a state (and reason) at a facility, as the Overview's counts link them. */
export const ordersHref = (params: OrderQuery): string => `/ui/orders${qs(params)}`;

function select(name: string, label: string, values: readonly string[], current: string | undefined): Html {
  return html`<label>${label} <select name="${name}"><option value="">any</option>${values.map((v) => html`<option${v === current ? html` selected` : ''}>${v}</option>`)}</select></label>`;
}

function searchForm(q: OrderQuery): Html {
  const input = (name: keyof OrderQuery, label: string, placeholder = '') =>
    html`<label>${label} <input type="text" name="${name}" value="${q[name] ?? ''}" placeholder="${placeholder}"></label>`;
  return html`<form method="get" action="/ui/orders" class="search" role="search">
${input('order', 'Order number', 'placer or accession')}<label>MRN <input type="text" name="mrn" value="${q.mrn ?? ''}" placeholder="the patient's" autocomplete="off"></label>${input('encounter', 'Encounter', 'Unique_Encounter_ID')}${input('facility', 'Facility', 'Facility_ID')}
${input('day', 'Day seen', "YYYY-MM-DD, the facility's")}${select('state', 'State', ORDER_STATES, q.state)}${select(
    'reason',
    'Reason',
    ORDER_REASONS.filter((r) => r !== ''),
    q.reason,
  )}
<button type="submit">Search</button> ${link('/ui/orders', 'Clear')}</form>
<p class="note">MRN: the orders a message of the patient touched (HL7 PID-3.1; FHIR the identifier of the Patient a message references). A message whose text was purged by retention (CDSR_RETENTION_DAYS) is not found by it. A search by MRN is written to the access audit, without the MRN.</p>`;
}

const stateCell = (o: Pick<OrderRow, 'state' | 'reason'>): Html =>
  html`<span class="st st-${o.state}">${o.state}</span>${o.reason !== '' ? html` <small>${o.reason}</small>` : ''}`;

export function ordersPage(q: OrderQuery, rows: readonly OrderRow[], next: string | null, ctx: Pick<PageContext, 'zoneOf'>, error?: string): Html {
  const params: OrderQuery = {};
  for (const f of ORDER_SEARCH_FIELDS) if (q[f] !== undefined) params[f] = q[f];
  return html`${searchForm(q)}
${error !== undefined ? html`<p class="bad" role="alert">${error}</p>` : ''}
${table(
  ['Order', 'Facility', 'Encounter', 'Consultation', 'State', 'First seen', 'Last seen'],
  rows.map((o) => [
    link(orderHref(o.id), o.orderNumbers.join(' / ') || `#${o.id}`),
    o.facilityId || '(unknown)',
    o.encounterId !== '' && o.consultationKey !== null ? link(recordHref(o.facilityId, o.encounterId), o.encounterId) : o.encounterId,
    o.consultationKey ?? '',
    stateCell(o),
    when(o.firstSeen, zoneIn(ctx, o.facilityId)),
    when(o.lastSeen, zoneIn(ctx, o.facilityId)),
  ]),
  { empty: 'No order matches.', id: 'orders' },
)}
${next !== null ? html`<p class="pager">${link(ordersHref({ ...params, after: next }), 'More orders →')}</p>` : ''}`;
}

/** A message's type as its sender wrote it: MSH-9 (`ORM^O01`) for HL7 v2, the resource type for FHIR. */
export function messageType(m: Pick<MessageRow, 'channel' | 'controlId'> & { readonly raw: string }): string {
  if (m.channel === 'fhir') return m.controlId.split(/[/#]/)[0] ?? '';
  const msh = looseHeader(m.raw.replace(/^[\s\v]+/, '').split(/\r\n|\r|\n/)[0] ?? '');
  if (!msh) return '';
  return msh.triggerEvent !== '' ? `${msh.messageType}^${msh.triggerEvent}` : msh.messageType;
}

/** What one transaction said about this order's consultation. */
export interface Submission {
  readonly transaction: TransactionRow;
  readonly verdict?: { readonly result?: string; readonly problems: readonly { code: string; message: string }[] };
}

export interface OrderTimeline {
  readonly messages: readonly (MessageRow & { readonly raw: string })[];
  /** The consultation the order is linked to, when it is in a record. */
  readonly consultation?: ConsultationRow;
  readonly submissions: readonly Submission[];
  /** FHIR: the HTTP status the request of each message was answered with, where it was kept (message id → status). */
  readonly answerStatus?: ReadonlyMap<number, number>;
}

/** A record's state as the ledger words it: a consultation a crosswalk row excludes is stored as cancelled. */
const recordWord = (c: Pick<ConsultationRow, 'state' | 'exclusion'>): string => (c.exclusion !== undefined ? 'excluded' : c.state);

export function orderPage(o: OrderRow, t: OrderTimeline, ctx: Pick<PageContext, 'zoneOf'>): Html {
  const zone = zoneIn(ctx, o.facilityId);
  const c = t.consultation;
  return html`<dl class="meta"><dt>Order numbers</dt><dd>${o.orderNumbers.join(' / ') || '(none)'}</dd><dt>Facility</dt><dd>${o.facilityId || '(unknown)'}</dd>
<dt>Encounter</dt><dd>${o.encounterId !== '' && o.consultationKey !== null ? link(recordHref(o.facilityId, o.encounterId), o.encounterId) : o.encounterId || '(unknown)'}</dd>
<dt>Consultation</dt><dd>${o.consultationKey ?? '(in no record)'}</dd><dt>State</dt><dd id="order-state">${stateCell(o)}</dd>
<dt>First seen</dt><dd>${when(o.firstSeen, zone)}</dd><dt>Last seen</dt><dd>${when(o.lastSeen, zone)}</dd></dl>
${o.exclusion !== undefined ? html`<p class="note">Excluded as <code>not-advanced-imaging</code>: <code>${o.exclusion.raw}</code> (${o.exclusion.crosswalk}, read by ${o.exclusion.rule}).</p>` : ''}
${o.missing.length > 0 ? html`<p class="bad">Missing: ${o.missing.join(', ')}</p>` : ''}
${o.problems.length > 0 ? html`<h2>Why it is held</h2>${problemList(o.problems)}` : ''}
<h2 id="h-messages">Messages that touched it</h2>
${table(
  ['Message', 'Received', 'Type', 'Control id', 'Sender', 'Status', 'ACK for its status'],
  t.messages.map((m) => [
    link(`/ui/messages/${m.id}`, `#${m.id}`),
    when(m.receivedAt, zone),
    messageType(m),
    m.controlId,
    m.sender,
    html`<span class="st st-${m.status}">${m.status}</span>`,
    ackSent(m, { answeredAs: m.status, ...(t.answerStatus?.has(m.id) ? { answerStatus: t.answerStatus.get(m.id)! } : {}) }),
  ]),
  { empty: 'No message kept for it.', id: 'order-messages' },
)}
<h2 id="h-record">Record</h2>
${
  c === undefined
    ? html`<p class="empty">In no record${o.consultationKey !== null ? ' (its consultation is gone)' : ''}: nothing of it is sent to NRDR.</p>`
    : html`<p>Consultation ${o.consultationKey ?? ''} of ${link(recordHref(o.facilityId, o.encounterId), `${o.facilityId} / ${o.encounterId}`)}: <span class="st st-${recordWord(c)}">${recordWord(c)}</span>.</p>
${c.nrdrProblems.length > 0 ? html`<p>NRDR's codes on the record:</p>${problemList(c.nrdrProblems)}` : ''}`
}
<h2 id="h-submissions">Submissions and NRDR's answers</h2>
${table(
  ['Transaction', 'Created', 'State', 'NRDR status', 'Verdict on this order', 'NRDR codes'],
  t.submissions.map((s) => [
    link(`/ui/transactions/${encodeURIComponent(s.transaction.transactionId)}`, s.transaction.transactionId),
    when(s.transaction.createdAt, zone),
    s.transaction.status,
    s.transaction.nrdr?.Status ?? 'none yet',
    s.verdict?.result ?? 'pending',
    (s.verdict?.problems ?? []).map((p) => html`<code>${p.code}</code> ${p.message}<br>`),
  ]),
  { empty: 'Not sent to NRDR.', id: 'order-submissions' },
)}`;
}
