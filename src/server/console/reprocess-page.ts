// Reprocess: the selection form (preview or apply), the runs newest first with their progress and
// counts, and one run with its skipped units and its changes field by field (old → new).
import type { ConsultationChange } from '../../store/rederive.js';
import type { ReprocessRun, ReprocessSelection } from '../../store/reprocess-runs.js';
import { CHANNELS, MESSAGE_STATUSES } from '../../store/store.js';
import { csrfField, html, link, qs, table, when, zoneIn, type Html, type PageContext } from './html.js';

/** The form's text inputs, as typed (kept on a refused form so that nothing has to be typed again). */
export const SELECTION_INPUTS = ['facility', 'encounter', 'order', 'sender', 'channel', 'status', 'from', 'to'] as const;
export type SelectionForm = Partial<Record<(typeof SELECTION_INPUTS)[number] | 'held' | 'all', string>>;

/** The selection a form asks for (empty inputs left out); checked later by the API's own rules. */
export function selectionInput(f: SelectionForm): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const k of SELECTION_INPUTS) {
    const v = (f[k] ?? '').trim();
    if (v !== '') out[k] = v;
  }
  if (f.held !== undefined && f.held !== '') out['held'] = true;
  if (f.all !== undefined && f.all !== '') out['all'] = true;
  return out;
}

const runHref = (id: number) => `/ui/reprocess/${id}`;
const kind = (r: ReprocessRun) => (r.apply ? 'applied' : 'preview');
const count = (r: ReprocessRun, change: string) => r.summary.byChange[change] ?? 0;

/** The progress as a bar and as text (the bar alone says nothing to a screen reader or in print). */
function progress(r: ReprocessRun): Html {
  return html`<progress max="${Math.max(r.total, 1)}" value="${r.total === 0 ? 1 : r.done}" aria-hidden="true"></progress> <span>${r.done} / ${r.total}</span>`;
}

function selectionText(s: ReprocessSelection): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(s)) {
    if (v === undefined) continue;
    if (k === 'held' && v === true) parts.push('held records and the error queue');
    else if (k === 'all' && v === true) parts.push('everything');
    else if (k === 'keepSent' && v === true) parts.push('leaving what NRDR was sent as it is');
    else if (k === 'messageIds' && Array.isArray(v)) parts.push(`messages ${v.join(', ')}`);
    else parts.push(`${k} ${String(v)}`);
  }
  return parts.join('; ');
}

function selectionForm(f: SelectionForm, ctx: PageContext): Html {
  const input = (name: (typeof SELECTION_INPUTS)[number], label: string, placeholder = '') =>
    html`<label>${label} <input type="text" name="${name}" value="${f[name] ?? ''}" placeholder="${placeholder}"></label>`;
  const select = (name: 'channel' | 'status', label: string, values: readonly string[]) =>
    html`<label>${label} <select name="${name}"><option value="">any</option>${values.map((v) => html`<option${v === f[name] ? html` selected` : ''}>${v}</option>`)}</select></label>`;
  const check = (name: 'held' | 'all', label: string) =>
    html`<label class="check"><input type="checkbox" name="${name}" value="1"${f[name] ? html` checked` : ''}> ${label}</label>`;
  return html`<form method="post" action="/ui/reprocess" class="search" id="reprocess-form">${csrfField(ctx)}
${input('facility', 'Facility', 'Facility_ID')}${input('encounter', 'Encounter id', 'Unique_Encounter_ID')}${input('order', 'Order number', 'placer, filler or accession')}${input('sender', 'Sender', 'MSH-3^MSH-4 or the subscription')}
${select('channel', 'Channel', CHANNELS)}${select('status', 'Message status', MESSAGE_STATUSES)}${input('from', 'Received from', 'YYYY-MM-DD or ISO')}${input('to', 'Received before', 'YYYY-MM-DD or ISO')}
${check('held', 'Held records and the error queue')}${check('all', 'Everything')}
<button type="submit" name="action" value="preview" id="reprocess-preview">Preview (dry run)</button> <button type="submit" name="action" value="apply" id="reprocess-apply">Apply</button></form>`;
}

export function reprocessPage(runs: readonly ReprocessRun[], ctx: PageContext, form: SelectionForm = {}, error?: string): Html {
  return html`<p>Map stored messages again through the tables in force and re-derive the records of their encounters. A preview writes nothing but the run: read what would change, then apply it. Every filter given must match; a run goes on in the background, one at a time.</p>
${error !== undefined ? html`<p class="bad" role="alert" id="reprocess-error">${error}</p>` : ''}
${selectionForm(form, ctx)}
<h2>Runs</h2>
${table(
  ['Run', 'Kind', 'Who', 'Status', 'Done / total', 'Changed', 'Added', 'Removed', 'Retracted', 'Sent again', 'To retract at NRDR', 'Skipped', 'Started'],
  runs.map((r) => [
    link(runHref(r.id), `#${r.id}`),
    kind(r),
    r.who,
    r.status,
    progress(r),
    count(r, 'changed'),
    count(r, 'added'),
    count(r, 'removed'),
    count(r, 'retracted'),
    r.summary.resend,
    r.summary.retractions,
    r.summary.skipped.length,
    when(r.createdAt, zoneIn(ctx)),
  ]),
  { empty: 'No reprocessing run yet.', id: 'runs' },
)}`;
}

const recordHref = (encounterKey: string) => {
  const bar = encounterKey.indexOf('|');
  return `/ui/records/${encodeURIComponent(encounterKey.slice(0, bar))}/${encodeURIComponent(encounterKey.slice(bar + 1))}`;
};

const value = (v: string | undefined): string => (v === undefined || v === '' ? '(none)' : v);

function changeRow(c: ConsultationChange): unknown[] {
  return [
    link(recordHref(c.encounterKey), c.encounterKey.replace('|', ' / ')),
    c.consultationKey,
    c.change,
    `${c.stateBefore ?? '(none)'} → ${c.stateAfter ?? '(none)'}`,
    c.fields.length === 0
      ? html`<span class="empty">no field</span>`
      : html`<ul class="fields">${c.fields.map((f) => html`<li><code>${f.field}</code>: ${value(f.before)} → ${value(f.after)}</li>`)}</ul>`,
    c.resend ? 'yes, sent again' : 'no',
    c.retraction ? 'yes, retract at NRDR' : 'no',
  ];
}

export interface RunPageState {
  readonly changes: readonly ConsultationChange[];
  /** The cursor of the next page of changes. */
  readonly next: string | null;
  /** The cursor this page started after (0: the first page). */
  readonly after: number;
  /** A refusal of "Apply this preview" (the tables changed since, say). */
  readonly error?: string;
}

export function runPage(r: ReprocessRun, st: RunPageState, ctx: PageContext): Html {
  const s = r.summary;
  const messages = Object.entries(s.messages);
  return html`${r.status === 'running' ? html`<p role="status" id="run-running" data-refresh="2">Running: this page refreshes itself every 2 seconds until the run ends (${link(runHref(r.id), 'refresh now')}).</p>` : ''}
${st.error !== undefined ? html`<p class="bad" role="alert" id="apply-error">${st.error}</p>` : ''}
<dl class="meta" id="run-meta"><dt>Kind</dt><dd>${r.apply ? 'applied' : 'preview (dry run): nothing was changed'}</dd><dt>Status</dt><dd>${r.status}</dd><dt>Progress</dt><dd>${progress(r)} unit(s)</dd>
<dt>Who</dt><dd>${r.who}</dd><dt>Selection</dt><dd>${selectionText(r.selection)}</dd><dt>Tables</dt><dd id="tables-dir">${r.tables}</dd><dt>Started</dt><dd>${when(r.createdAt, zoneIn(ctx))}</dd><dt>Last change</dt><dd>${when(r.updatedAt, zoneIn(ctx))}</dd>
${r.error !== undefined ? html`<dt>Error</dt><dd class="bad">${r.error}</dd>` : ''}</dl>
${!r.apply && r.status === 'done' ? html`<form method="post" action="${runHref(r.id)}/apply" id="apply-preview">${csrfField(ctx)}<p>Apply the same selection through the same tables (refused if the tables changed since this preview): <button type="submit">Apply this preview</button></p></form>` : ''}
<h2>Summary</h2>
<ul id="run-summary"><li>${s.units} unit(s) done; ${s.unchanged} consultation(s) unchanged</li>
<li>changed ${count(r, 'changed')}, added ${count(r, 'added')}, removed ${count(r, 'removed')}, retracted ${count(r, 'retracted')}</li>
<li>${s.resend} sent to NRDR before and sent again; ${s.retractions} to retract at NRDR</li>
<li>messages whose status changes: ${messages.length > 0 ? messages.map(([k, n]) => `${k} ${n}`).join(', ') : 'none'}</li>
<li>${s.skipped.length} unit(s) skipped</li></ul>
${s.skipped.length > 0 ? html`<h2>Skipped units</h2><ul id="run-skipped">${s.skipped.map((x) => html`<li>${x}</li>`)}</ul>` : ''}
<h2>Changes</h2>
${table(
  ['Encounter', 'Consultation', 'Change', 'State before → after', 'Fields (before → after)', 'Sent again', 'Retract at NRDR'],
  st.changes.map(changeRow),
  {
    empty: st.after > 0 ? 'No more changes.' : r.status === 'running' ? 'No change found yet.' : 'No consultation changes.',
    id: 'changes',
  },
)}
<p class="pager">${st.after > 0 ? html`${link(runHref(r.id), '← First changes')} ` : ''}${st.next !== null ? link(`${runHref(r.id)}${qs({ after: st.next })}`, 'Next changes →') : ''}</p>
<p>${link('/ui/reprocess', 'All runs')}</p>`;
}
