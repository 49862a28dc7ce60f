// Edit and reprocess (as in Mirth's message browser): an operator edits a copy of a stored
// message's text and the copy goes through the normal ingest path as a new message of the same
// channel (HL7 as if received over HTTP, FHIR as if posted to /fhir). The original is kept as it
// is; each names the other (inbound_messages.edited_from), and the edit is in the access audit.
import { ingestFhir } from '../../inbound/fhir.js';
import { ingestHl7 } from '../../inbound/hl7.js';
import type { IngestDeps } from '../../inbound/context.js';
import type { MessageEdits, MessageRow, MessageStatus } from '../../store/store.js';
import { er7GridHtml } from './er7-grid.js';
import { csrfField, html, link, when, type Html, type PageContext } from './html.js';

type Stored = MessageRow & { raw: string };

/** The text as the operator edits it: ER7 one segment a line (a browser's textarea shows CR as a line break anyway), JSON indented. */
export function editableText(m: Pick<Stored, 'channel' | 'raw'>): string {
  if (m.channel === 'hl7v2') return m.raw.replace(/\r\n?/g, '\n');
  try {
    return JSON.stringify(JSON.parse(m.raw), null, 2);
  } catch {
    return m.raw;
  }
}

/** The copy as it is processed: ER7 segments end in CR whatever the browser sent (CRLF from a form). */
export function copyText(channel: MessageRow['channel'], text: string): string {
  return channel === 'hl7v2' ? text.replace(/\r\n|\n/g, '\r').replace(/\r+$/, '') : text;
}

/** The copy says what the original said: ER7 compared segment for segment, JSON by its content. */
export function sameText(channel: MessageRow['channel'], original: string, copy: string): boolean {
  if (channel === 'hl7v2') return copyText(channel, original) === copyText(channel, copy);
  try {
    return JSON.stringify(JSON.parse(original)) === JSON.stringify(JSON.parse(copy));
  } catch {
    return original.trim() === copy.trim();
  }
}

/** What processing the copy gave: the messages it stored and the answer a sender would have had. */
export interface EditOutcome {
  readonly messageIds: readonly number[];
  /** The new message's status (the first one's, for a FHIR Bundle of several). */
  readonly status?: MessageStatus;
  /** `ACK AA`, or the FHIR answer's HTTP status. */
  readonly answer: string;
  /** What the answer said when nothing was stored (the ACK's ERR text, the OperationOutcome's diagnostics). */
  readonly refusal?: string;
}

export async function processCopy(deps: IngestDeps, m: Stored, text: string, who: string): Promise<EditOutcome> {
  const origin = { contentType: m.contentType, auth: who, edit: { messageId: m.id, by: who, sender: m.sender } };
  if (m.channel === 'hl7v2') {
    const r = await ingestHl7(deps, copyText(m.channel, text), origin);
    const answer = `ACK ${r.code}`;
    if (r.messageId === undefined)
      return {
        messageIds: [],
        answer,
        refusal: r.ack
          .split('\r')
          .filter((l) => l.startsWith('ERR|'))
          .map((l) => l.split('|').at(-1) ?? '')
          .join('; '),
      };
    return { messageIds: [r.messageId], status: (await deps.store.message(r.messageId))?.status ?? 'applied', answer };
  }
  const r = await ingestFhir(deps, text, origin);
  const ids = r.messageIds ?? [];
  const answer = `HTTP ${r.status}`;
  if (ids.length === 0) return { messageIds: [], answer, refusal: r.body.issue.map((i) => i.diagnostics ?? i.code).join('; ') };
  return { messageIds: ids, status: (await deps.store.message(ids[0]!))?.status ?? 'applied', answer };
}

const messageLink = (id: number) => link(`/ui/messages/${id}`, `message #${id}`);

/** The links between an edited copy and its original, on both pages. */
export function editsNote(edits: MessageEdits): Html {
  const from = edits.editedFrom;
  return html`${from !== undefined ? html`<p class="note" id="edited-from">Edited from ${messageLink(from.messageId)} by ${from.by} at ${when(from.at)}.</p>` : ''}
${edits.editedAs.length > 0 ? html`<p class="note" id="edited-as">Edited as ${edits.editedAs.map((e, i) => html`${i > 0 ? ', ' : ''}${messageLink(e.messageId)} (by ${e.by} at ${when(e.at)})`)}: this original is kept as it was received.</p>` : ''}`;
}

/** The banner on the new message's page, just after the edit. */
export function editResult(from: number, o: EditOutcome): Html {
  const ids = o.messageIds.map((id, i) => html`${i > 0 ? ', ' : ''}${messageLink(id)}`);
  return html`<p class="result" role="status" id="edit-result">The edited copy of message #${from} was processed as ${ids}: <strong>${o.status ?? ''}</strong> (${o.answer}).</p>`;
}

export interface EditForm {
  /** The text as typed (kept on a refusal so that nothing has to be typed again). */
  readonly text: string;
  readonly error?: string;
}

export function editPage(m: Stored, ctx: PageContext, form: EditForm): Html {
  return html`<p>Edit a copy of ${messageLink(m.id)} (${m.channel}, from ${m.sender}, received ${when(m.receivedAt)}) and process it as a new message of the same channel:
${m.channel === 'hl7v2' ? 'as if received over HTTP (its sender is read from MSH-3 and MSH-4, as always)' : `as if posted to /fhir by the same sender (${m.sender})`}. The original is kept as it is; each page links to the other, and the edit is written to the access audit.</p>
${form.error !== undefined ? html`<p class="bad" role="alert" id="edit-error">${form.error}</p>` : ''}
<form method="post" action="/ui/messages/${m.id}/edit" id="edit-form">${csrfField(ctx)}
<label for="edit-text">Text of the copy</label>
<textarea id="edit-text" name="text" rows="18" spellcheck="false" autocomplete="off">${form.text}</textarea>
<p><button type="submit">Process the copy as a new message</button> ${link(`/ui/messages/${m.id}`, 'Cancel')}</p></form>
${m.channel === 'hl7v2' ? html`<h2>The original, by position</h2>${er7GridHtml(m.raw)}` : ''}`;
}
