// Messages: the search of the inbound log (server-side paging, newest first), one message with
// its raw text as a field grid or pretty JSON, its outcome and problems, and replay (a re-derivation
// of the message's encounter through the tables in force, applied at once).
import type { TraceEntry } from '../../mapping/record.js';
import { looseHeader, stripFraming } from '../../hl7v2/parse.js';
import { ACK_FOR } from '../../inbound/outcome.js';
import { CHANNELS, MESSAGE_STATUSES, type MessageDetail, type MessageRow } from '../../store/store.js';
import { er7GridHtml } from './er7-grid.js';
import { csrfField, guessMark, html, link, problemList, qs, table, when, zoneIn, type Html, type PageContext } from './html.js';

export const SEARCH_FIELDS = ['q', 'controlId', 'sender', 'status', 'channel', 'from', 'to'] as const;
export type SearchQuery = Partial<Record<(typeof SEARCH_FIELDS)[number] | 'after' | 'limit', string>>;

/** A duplicate or rejected message never fed a record: every other one can be replayed, an applied one too. */
export const replayable = (m: Pick<MessageRow, 'status'>): boolean => m.status !== 'duplicate' && m.status !== 'rejected';

const REPROCESS_NOTE = html`<p class="note">A replay maps the message again through the tables in force and re-derives its encounter from all of its messages, applied at once (an applied message too). To see first what would change, or for a larger selection, use ${link('/ui/reprocess', 'Reprocess')} (a preview, then apply).</p>`;

/** MSH-9 (type^trigger) of an ER7 text, the resourceType of a FHIR one (else the type its control id names); '' when the text is gone. */
export function messageTypeOf(m: Pick<MessageRow, 'channel' | 'controlId'>, raw: string): string {
  if (m.channel === 'hl7v2') {
    const msh = looseHeader(stripFraming(raw).split(/\r\n?|\n/, 1)[0] ?? '');
    return msh ? [msh.messageType, msh.triggerEvent].filter((x) => x !== '').join('^') : '';
  }
  try {
    const parsed: unknown = JSON.parse(raw);
    const type = (parsed as { resourceType?: unknown } | null)?.resourceType;
    if (typeof type === 'string') return type;
  } catch {
    // a purged or non-JSON text: the control id (ServiceRequest/1/_history/2) still names the type
  }
  return /^[A-Z][A-Za-z]+\//.exec(m.controlId)?.[0].slice(0, -1) ?? '';
}

/**
 * The answer the sender got. HL7: the MSA-1 code its status answers (a resend as its first
 * delivery; the ACK itself is not stored). FHIR: the HTTP status the whole request was answered
 * with, as kept on each message it stored (a resource applied beside a failed one: 422); for a
 * message stored before that was kept, derived from its status: 200 for a notification (sender =
 * its subscription), for a direct POST 200 when applied or pending, else 422.
 */
export function ackSent(m: Pick<MessageRow, 'channel' | 'sender'>, d: Pick<MessageDetail, 'answeredAs' | 'answerStatus'>): string {
  if (m.channel === 'hl7v2') return ACK_FOR[d.answeredAs];
  if (d.answerStatus !== undefined) return String(d.answerStatus);
  if (m.sender !== 'fhir') return '200';
  return d.answeredAs === 'applied' || d.answeredAs === 'duplicate' || d.answeredAs === 'pending' ? '200' : '422';
}

function select(name: string, label: string, values: readonly string[], current: string | undefined): Html {
  return html`<label>${label} <select name="${name}"><option value="">any</option>${values.map((v) => html`<option${v === current ? html` selected` : ''}>${v}</option>`)}</select></label>`;
}

function searchForm(q: SearchQuery): Html {
  const input = (name: keyof SearchQuery, label: string, type = 'text', placeholder = '') =>
    html`<label>${label} <input type="${type}" name="${name}" value="${q[name] ?? ''}" placeholder="${placeholder}"></label>`;
  return html`<form method="get" action="/ui/messages" class="search" role="search">
${input('q', 'Content', 'search', 'PID-3.1=MRN123 or text')}
${input('controlId', 'Control id')}${input('sender', 'Sender', 'text', 'MSH-3 or key')}${select('status', 'Status', MESSAGE_STATUSES, q.status)}${select('channel', 'Channel', CHANNELS, q.channel)}
${input('from', 'From', 'text', 'YYYY-MM-DD')}${input('to', 'To', 'text', 'YYYY-MM-DD')}
<button type="submit">Search</button> ${link('/ui/messages', 'Clear')}</form>
<p class="note">Content: an HL7 path = value (<code>PID-3.1=MRN123</code>, <code>OBR-3=ACC1</code>; every repetition and segment of the path) or a text, exactly (case-sensitive). A message whose text was purged by retention (CDSR_RETENTION_DAYS), or a resend (which keeps no copy), is not found by its content. ACK: what the sender was answered, derived from the message's status.</p>`;
}

export function messagesPage(
  q: SearchQuery,
  rows: readonly MessageRow[],
  details: readonly MessageDetail[],
  next: string | null,
  ctx: PageContext,
  error?: string,
): Html {
  const byId = new Map(details.map((d) => [d.id, d]));
  const params: Record<string, string | undefined> = {};
  for (const f of SEARCH_FIELDS) params[f] = q[f];
  return html`${searchForm(q)}
${error !== undefined ? html`<p class="bad" role="alert">${error}</p>` : ''}
<form method="post" action="/ui/messages/replay" id="replay-selection">${csrfField(ctx)}
${table(
  ['', 'Id', 'Received', 'Channel', 'Type', 'Sender', 'Control id', 'Order numbers', 'Status', 'ACK', 'Problems'],
  rows.map((m) => {
    const d = byId.get(m.id);
    return [
      replayable(m) ? html`<input type="checkbox" name="id" value="${m.id}" aria-label="select message ${m.id}">` : '',
      link(`/ui/messages/${m.id}`, `#${m.id}`),
      when(m.receivedAt, zoneIn(ctx)),
      m.channel,
      messageTypeOf(m, d?.raw ?? ''),
      m.sender,
      m.controlId,
      (d?.orderNumbers ?? []).join(', '),
      html`<span class="st st-${m.status}">${m.status}</span>`,
      ackSent(m, d ?? { answeredAs: m.status }),
      m.problems
        .slice(0, 2)
        .map((p) => p.code)
        .join(', ') + (m.problems.length > 2 ? ` +${m.problems.length - 2}` : ''),
    ];
  }),
  { empty: 'No message matches.', id: 'messages' },
)}
${rows.some(replayable) ? html`<button type="submit">Replay the selected messages</button>` : ''}</form>
${rows.some(replayable) ? REPROCESS_NOTE : ''}
${next !== null ? html`<p class="pager">${link(`/ui/messages${qs({ ...params, after: next })}`, 'Older messages →')}</p>` : ''}`;
}

function prettyJson(raw: string): string {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}

export interface MessageMapping {
  readonly records: readonly { facilityId: string; encounterId: string }[];
  readonly trace: readonly TraceEntry[];
}

export function messagePage(m: MessageRow & { raw: string }, mapped: MessageMapping, ctx: PageContext, replayed?: string): Html {
  const { records, trace } = mapped;
  const body =
    m.raw === '' && m.status === 'duplicate'
      ? html`<p class="empty">A resend keeps no copy of its text: it is the text of the first delivery of control id ${link(`/ui/messages${qs({ q: m.controlId })}`, m.controlId)}, answered as that one was.</p>`
      : m.raw === ''
        ? html`<p class="empty">The raw text was purged by retention (CDSR_RETENTION_DAYS); the outcome stays.</p>`
        : m.channel === 'hl7v2'
          ? html`${er7GridHtml(m.raw)}<details><summary>Raw ER7</summary><pre>${m.raw.replace(/\r\n?/g, '\n')}</pre></details>`
          : html`<pre class="json">${prettyJson(m.raw)}</pre>`;
  return html`${replayed !== undefined ? html`<p class="result" role="status" id="replay-result">Replayed: the message is now <strong>${replayed}</strong>.</p>` : ''}
<dl class="meta"><dt>Status</dt><dd><span class="st st-${m.status}">${m.status}</span></dd><dt>Received</dt><dd>${when(m.receivedAt, zoneIn(ctx))}</dd><dt>Channel</dt><dd>${m.channel}</dd>
<dt>Sender</dt><dd>${m.sender}</dd><dt>Control id</dt><dd>${m.controlId}</dd><dt>Content type</dt><dd>${m.contentType}</dd><dt>Came through</dt><dd>${m.auth}</dd>
<dt>Records</dt><dd>${records.length > 0 ? records.map((r) => html`${link(`/ui/records/${encodeURIComponent(r.facilityId)}/${encodeURIComponent(r.encounterId)}`, `${r.facilityId} / ${r.encounterId}`)} `) : 'none (as the tables in force map it)'}</dd></dl>
${replayable(m) ? html`<form method="post" action="/ui/messages/${m.id}/replay">${csrfField(ctx)}<button type="submit" id="replay-one">Replay this message</button></form>${REPROCESS_NOTE}` : ''}
${m.raw !== '' ? html`<p>${link(`/ui/messages/${m.id}/edit`, 'Edit a copy and process it')}: the copy becomes a new message of the same channel; this one is kept as it is.</p>` : ''}
<h2>Problems</h2>${problemList(m.problems)}
${
  trace.length > 0
    ? html`<h2>Trace (the tables in force)</h2>${table(
        ['Field', 'Path', 'Raw', 'Crosswalk row', 'Value', 'Rule'],
        trace.map((t) => [
          html`<code>${t.field}</code>`,
          t.path,
          t.raw,
          t.crosswalk ?? '',
          html`${t.value}${guessMark(t.guess)}`,
          html`${t.rule}${t.skipped ? html`<br><small>${t.skipped.join('; ')}</small>` : ''}`,
        ]),
      )}`
    : ''
}
<h2>Message</h2>${body}`;
}
