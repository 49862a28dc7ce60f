// Records and transactions: every CDSR field of an encounter with where it came from (source
// message, rule file:line, crosswalk row), missing fields explained, NRDR's verdict and codes;
// what NRDR was last sent beside the current values; transactions with the JSON sent, NRDR's
// status history and its verdict per record.
import type { FieldMap } from '../../mapping/merge.js';
import { RECORD_STATES } from '../../store/evaluate.js';
import type { OrderRow } from '../../store/ledger.js';
import type { AcknowledgeResult, ConsultationRow, RecordSummary, RecordView, TransactionRow } from '../../store/store.js';
import { WIRE_FIELDS, type LastSent } from '../last-sent.js';
import { csrfField, guessMark, html, link, problemList, qs, table, when, zoneIn, type Html, type PageContext } from './html.js';

const recordHref = (facilityId: string, encounterId: string) => `/ui/records/${encodeURIComponent(facilityId)}/${encodeURIComponent(encounterId)}`;

/** What the Records list shows beside a consultation: its orders in the ledger, its exam, whether a crosswalk row excludes it. */
export interface RecordListing {
  readonly orders: readonly Pick<OrderRow, 'id' | 'orderNumbers' | 'state' | 'reason'>[];
  readonly exam: string;
  readonly excluded: boolean;
}

export const listingKey = (r: Pick<RecordSummary, 'encounterKey' | 'consultationKey'>): string => `${r.encounterKey}\n${r.consultationKey}`;

export function recordsPage(
  state: string | undefined,
  rows: readonly RecordSummary[],
  next: string | null,
  listings: ReadonlyMap<string, RecordListing> = new Map(),
): Html {
  return html`<form method="get" action="/ui/records" class="search"><label>State <select name="state"><option value="">any</option>${RECORD_STATES.map((s) => html`<option${s === state ? html` selected` : ''}>${s}</option>`)}</select></label> <button type="submit">Show</button></form>
${table(
  ['Facility', 'Encounter', 'Consultation', 'Orders', 'Exam', 'State', 'Missing'],
  rows.map((r) => {
    const l = listings.get(listingKey(r));
    // a consultation a crosswalk row excludes is stored as cancelled: named as the ledger names it
    const word = l?.excluded === true ? 'excluded' : r.state;
    return [
      r.facilityId,
      link(recordHref(r.facilityId, r.encounterId), r.encounterId),
      r.consultationKey,
      (l?.orders ?? []).map(
        (o, i) =>
          html`${i > 0 ? ', ' : ''}${link(`/ui/orders/${o.id}`, o.orderNumbers.join(' / ') || `#${o.id}`)} <small>${o.state}${o.reason !== '' ? ` ${o.reason}` : ''}</small>`,
      ),
      l?.exam ?? '',
      html`<span class="st st-${word}">${word}</span>`,
      r.missing.join(', '),
    ];
  }),
  { empty: 'No record.', id: 'records' },
)}
${next !== null ? html`<p class="pager">${link(`/ui/records${qs({ state, after: next })}`, 'Next records →')}</p>` : ''}`;
}

/** `sent`: the values NRDR was last sent: a column beside the value says what was sent when it differs. */
function fieldsTable(fields: FieldMap, caption: string, sent?: LastSent): Html {
  const sentCell = (name: string, value: string) => {
    if (!sent || !WIRE_FIELDS.includes(name)) return '';
    const was = sent.values[name];
    return was === value ? '' : html`${sentValue(was)}`;
  };
  return table(
    [
      'Field',
      'Value',
      ...(sent ? [`Last sent to NRDR (${sent.transactionId}), when different`] : []),
      'Source message',
      'Rule',
      'Crosswalk row',
      'Source time',
    ],
    Object.entries(fields)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, f]) => [
        html`<code>${name}</code>`,
        html`${f.value}${guessMark(f.guess)}`,
        ...(sent ? [sentCell(name, f.value)] : []),
        f.source,
        f.rule ?? '',
        f.crosswalk ?? '',
        f.time,
      ]),
    { caption, empty: `${caption}: none.` },
  );
}

/** A value as text; one that is not there says so in words (an empty cell would read as "same"). */
const sentValue = (v: string | undefined): string => (v === undefined || v === '' ? '(not sent)' : v);
const nowValue = (v: string | undefined): string => (v === undefined || v === '' ? '(none now)' : v);

/**
 * Every wire field whose value now differs from what NRDR was last sent, the encounter's fields
 * included (they go with each consultation), and the key it was sent under when it changed since.
 */
function lastSentSection(r: RecordView, c: ConsultationRow, sent: LastSent): Html {
  const now = (f: string): string | undefined =>
    f === 'Unique_Encounter_ID' ? r.encounterId : (c.fields[f] ?? r.consultationDefaults[f] ?? r.fields[f])?.value;
  const differ = WIRE_FIELDS.filter((f) => (now(f) ?? '') !== (sent.values[f] ?? ''));
  return html`<h3>Beside what NRDR was last sent</h3>
<p>Last sent in ${link(`/ui/transactions/${encodeURIComponent(sent.transactionId)}`, sent.transactionId)}${sent.consultationKey !== c.consultationKey ? html` under the key <strong>${sent.consultationKey}</strong> (its key is ${c.consultationKey} now)` : ' under the same key'}.
${differ.length === 0 ? 'Every field is as it was sent.' : `${differ.length} field(s) differ from what was sent:`}</p>
${
  differ.length > 0
    ? table(
        ['Field', 'Value now', 'Value last sent'],
        differ.map((f) => [html`<code>${f}</code>`, nowValue(now(f)), sentValue(sent.values[f])]),
        { id: `last-sent-${slug(c.consultationKey)}` },
      )
    : ''
}`;
}

/** The fields the tables guessed, named above the table so that a long record does not hide them. */
function guessNote(fields: FieldMap): Html {
  const guessed = Object.keys(fields)
    .filter((k) => fields[k]?.guess !== undefined)
    .sort();
  return guessed.length > 0
    ? html`<p class="note">Guessed by the tables (marked <span class="guess">guess</span> below, with why): ${guessed.join(', ')}.</p>`
    : html``;
}

const VERDICT_WORDS = { accepted: 'accepted it', rejected: 'rejected it', 'needs-review': 'asked for a review of it' } as const;

/**
 * NRDR's verdict: the state says it while the record is accepted or rejected; a record cancelled
 * (or re-keyed) since keeps it only with what was sent, so it is read from there.
 */
function verdict(c: ConsultationRow, sent: LastSent | undefined): Html {
  if (c.state === 'accepted') {
    return html`<p class="good">Accepted by NRDR.</p>${c.nrdrProblems.length > 0 ? html`<p>With what NRDR's answer still says about it (warnings):</p>${problemList(c.nrdrProblems)}` : ''}`;
  }
  if (c.nrdrProblems.length > 0) return problemList(c.nrdrProblems);
  if (sent?.verdict !== undefined) {
    const v = sent.verdict;
    return html`<p class="${v.result === 'accepted' ? 'good' : v.result === 'rejected' ? 'bad' : ''}" id="verdict-${slug(c.consultationKey)}">On what was sent in ${sent.transactionId}${sent.consultationKey !== c.consultationKey ? ` (under the key ${sent.consultationKey})` : ''}, NRDR ${VERDICT_WORDS[v.result]}.</p>${v.problems.length > 0 ? problemList(v.problems) : ''}`;
  }
  if (c.transactionId !== undefined) return html`<p class="empty">Sent in ${c.transactionId}; no verdict from NRDR yet.</p>`;
  return html`<p class="empty">No verdict from NRDR yet.</p>`;
}

const slug = (key: string) => key.replace(/[^0-9A-Za-z]+/g, '-');

/** A cancellation after NRDR had the record: what the site does at NRDR, and the acknowledgement (the same operation as POST /api/records/{f}/{e}/acknowledge). */
function retractionSection(r: RecordView, c: ConsultationRow, ctx: PageContext): Html {
  const x = c.retraction;
  if (x === undefined) return html``;
  return html`<h3>Retraction at NRDR</h3><p class="note" id="retraction-${slug(c.consultationKey)}">To do: ${x.instruction}.</p>
${
  x.acknowledged !== null
    ? html`<p class="good">Acknowledged by ${x.acknowledged.by} at ${when(x.acknowledged.at)}: the site removed it at NRDR.</p>`
    : html`<form method="post" action="${recordHref(r.facilityId, r.encounterId)}/acknowledge" class="search">${csrfField(ctx)}<input type="hidden" name="consultation" value="${c.consultationKey}">
<p>Once the NRDR Help Desk has removed it, say so here (written to the access audit):</p> <button type="submit" aria-label="Acknowledge the retraction of consultation ${c.consultationKey}">Acknowledge</button></form>`
}`;
}

function consultation(r: RecordView, c: ConsultationRow, sent: LastSent | undefined, ctx: PageContext, zone: string): Html {
  return html`<section class="consultation"><h2>Consultation ${c.consultationKey} <span class="st st-${c.state}">${c.state}</span>${c.exclusion !== undefined ? ' (excluded)' : c.cancelled ? ' (cancelled)' : ''}</h2>
${c.exclusion !== undefined ? html`<p class="note">Not reported: <code>${c.exclusion.raw}</code> is known and not advanced imaging (${c.exclusion.crosswalk}, read by ${c.exclusion.rule}); the order is excluded as <code>not-advanced-imaging</code>.</p>` : ''}
${c.keySource === 'fallback' ? html`<p class="note">Its date and time come from a fallback source of the key rules (place ${String(c.keyRank)}; the rule is on the key fields below), not the CDS data: a message of the order with the CDS date and time moves it there.</p>` : ''}
${c.transactionId !== undefined ? html`<p>Sent in ${link(`/ui/transactions/${encodeURIComponent(c.transactionId)}`, c.transactionId)}.</p>` : ''}
${c.missing.length > 0 ? html`<p class="bad">Missing: ${c.missing.join(', ')}</p>` : ''}
${guessNote(c.fields)}
${fieldsTable(c.fields, 'Consultation fields', sent)}
${sent ? lastSentSection(r, c, sent) : ''}
<h3>Problems (and where the tables look for missing fields)</h3>${problemList(c.problems)}
${retractionSection(r, c, ctx)}
<h3>NRDR verdict</h3>${verdict(c, sent)}
<h3>History</h3>
${table(
  ['When', 'From', 'To', 'Who', 'Why', 'Transaction', 'NRDR codes then'],
  c.history.map((h) => [when(h.at, zone), h.from, h.to, h.who, h.why, h.transactionId ?? '', h.problems.map((p) => html`<code>${p.code}</code> `)]),
  { empty: 'No change made by hand.' },
)}
</section>`;
}

/** The form that sends the encounter's rejected records again (the same operation as POST /api/records/{f}/{e}/resubmit). */
function resubmitForm(r: RecordView, ctx: PageContext): Html {
  const rejected = r.consultations.filter((c) => c.state === 'rejected').length;
  if (rejected === 0) return html``;
  return html`<form method="post" action="${recordHref(r.facilityId, r.encounterId)}/resubmit" id="resubmit" class="search">${csrfField(ctx)}
<p>NRDR rejected ${rejected} consultation(s) of this encounter. Once the cause is fixed (a registration at ACR, say), send them again: they go back to ready for the next submission round.</p>
<label>Reason <input name="reason" maxlength="200" placeholder="facility registered at ACR"></label> <button type="submit">Resubmit</button></form>`;
}

/** The answer of an acknowledgement just made from the record page. */
export type AcknowledgedBanner = { readonly consultation: string } & AcknowledgeResult;

function acknowledgedBanner(a: AcknowledgedBanner): Html {
  if (a.result === 'acknowledged')
    return html`<p id="acknowledge-result" role="status" class="good">Acknowledged: the retraction of consultation ${a.consultation} at NRDR is recorded as done (by ${a.by}, ${when(a.at)}).</p>`;
  if (a.result === 'already')
    return html`<p id="acknowledge-result" role="status" class="empty">Already acknowledged by ${a.by} at ${when(a.at)}: nothing changed.</p>`;
  if (a.result === 'not-retraction')
    return html`<p id="acknowledge-result" role="alert" class="bad">Consultation ${a.consultation} is not cancelled after submission (it is ${a.state}): nothing to acknowledge.</p>`;
  return html`<p id="acknowledge-result" role="alert" class="bad">No consultation ${a.consultation} in this encounter.</p>`;
}

/** `resubmitted`: the answer of a resubmit just made from this page; `lastSent`: per consultation key, what NRDR was last sent; `acknowledged`: an acknowledgement just made. */
export function recordPage(
  r: RecordView,
  ctx: PageContext,
  resubmitted?: number,
  lastSent: ReadonlyMap<string, LastSent> = new Map(),
  acknowledged?: AcknowledgedBanner,
): Html {
  return html`${acknowledged !== undefined ? acknowledgedBanner(acknowledged) : ''}${resubmitted !== undefined ? html`<p id="resubmit-result" role="status" class="${resubmitted > 0 ? 'good' : 'empty'}">${resubmitted > 0 ? `${resubmitted} consultation(s) put back to ready; they are sent in the next submission round.` : 'Nothing to resubmit: no consultation of this encounter is rejected now.'}</p>` : ''}
${resubmitForm(r, ctx)}
<dl class="meta"><dt>Facility_ID</dt><dd>${r.facilityId}</dd><dt>Unique_Encounter_ID</dt><dd>${r.encounterId}</dd>${r.partnerId !== undefined ? html`<dt>PartnerID</dt><dd>${r.partnerId}</dd>` : ''}</dl>
${guessNote({ ...r.fields, ...r.consultationDefaults })}
${fieldsTable(r.fields, 'Encounter fields')}
${Object.keys(r.consultationDefaults).length > 0 ? fieldsTable(r.consultationDefaults, 'Consultation fields given for the whole encounter') : ''}
${r.consultations.map((c) => consultation(r, c, lastSent.get(c.consultationKey), ctx, zoneIn(ctx, r.facilityId)))}`;
}

export function transactionsPage(rows: readonly TransactionRow[], next: string | null, ctx: Pick<PageContext, 'zoneOf'> = {}): Html {
  return html`${table(
    ['Transaction', 'Profile', 'Facility', 'State', 'NRDR status', 'Records', 'Accepted', 'Rejected', 'Attempts', 'Created', 'Updated'],
    rows.map((t) => [
      link(`/ui/transactions/${encodeURIComponent(t.transactionId)}`, t.transactionId),
      t.profile ?? '',
      t.facilityId,
      t.status,
      t.nrdr?.Status ?? '',
      t.records.length,
      t.records.filter((x) => x.result === 'accepted').length,
      t.records.filter((x) => x.result === 'rejected').length,
      t.attempts,
      when(t.createdAt, zoneIn(ctx, t.facilityId)),
      when(t.updatedAt, zoneIn(ctx, t.facilityId)),
    ]),
    { empty: 'No transaction sent yet.', id: 'transactions' },
  )}
${next !== null ? html`<p class="pager">${link(`/ui/transactions${qs({ after: next })}`, 'Older transactions →')}</p>` : ''}`;
}

export function transactionPage(t: TransactionRow, ctx: Pick<PageContext, 'zoneOf'> = {}): Html {
  const zone = zoneIn(ctx, t.facilityId);
  return html`<dl class="meta"><dt>Profile</dt><dd>${t.profile ?? 'not named (written before profiles)'}</dd><dt>State</dt><dd>${t.status}</dd><dt>NRDR status</dt><dd>${t.nrdr?.Status ?? 'none yet'}</dd><dt>Facility</dt><dd>${t.facilityId}</dd>
<dt>Created</dt><dd>${when(t.createdAt, zone)}</dd><dt>Last change</dt><dd>${when(t.updatedAt, zone)}</dd><dt>Attempts</dt><dd>${t.attempts}</dd>${t.lastError !== undefined ? html`<dt>Last error</dt><dd class="bad">${t.lastError}</dd>` : ''}
${t.nrdr?.Error_Msg ? html`<dt>NRDR message</dt><dd>${t.nrdr.Error_Msg}</dd>` : ''}</dl>
<h2>Verdict per record</h2>
${table(
  ['Encounter', 'Consultation', 'Verdict', 'NRDR codes'],
  t.records.map((x) => {
    const [facility, encounter] = [x.encounterKey.slice(0, x.encounterKey.indexOf('|')), x.encounterKey.slice(x.encounterKey.indexOf('|') + 1)];
    return [
      link(recordHref(facility, encounter), encounter),
      x.consultationKey,
      x.result ?? 'pending',
      x.problems.map((p) => html`<code>${p.code}</code> ${p.message}<br>`),
    ];
  }),
)}
<h2>NRDR status history</h2>
${table(
  ['When', 'Status', 'Error_Msg', 'Exam errors', 'Summary'],
  t.nrdrHistory.map((h) => [when(h.at, zone), h.status, h.errorMsg ?? '', h.examErrors, h.summary]),
  { empty: 'No answer from NRDR yet.', id: 'nrdr-history' },
)}
${t.nrdr ? html`<h2>NRDR's last status answer</h2><pre class="json">${JSON.stringify(t.nrdr, null, 2)}</pre>` : ''}
<h2>JSON sent</h2><pre class="json">${JSON.stringify(t.body, null, 2)}</pre>`;
}
