// Overview: today's reconciliation by facility and state, the error queue, subscription gaps, the
// last transactions with NRDR's status, and the tables in force with the last reload's result.
import { zoneOf, type AppOptions } from '../app.js';
import { localDayOf, type OrderState } from '../../store/ledger.js';
import { ordersHref } from './orders-page.js';
import { html, link, table, when, type Html } from './html.js';

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const detail = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

export async function overviewPage(deps: AppOptions): Promise<Html> {
  // today is each facility's own: the UTC day and the days either side hold every zone's today
  const now = deps.clock();
  const zone = zoneOf(deps);
  const utcDay = (n: number) => new Date(now.getTime() + n * 86_400_000).toISOString().slice(0, 10);
  const [days, counts, subs, txs] = await Promise.all([
    deps.store.reconciliation({ from: utcDay(-1), to: utcDay(1), timeZoneOf: zone }),
    deps.store.counts(),
    deps.store.subscriptions(),
    deps.store.transactions({ newestFirst: true, limit: 10 }),
  ]);
  const recon = days.filter((r) => r.day === localDayOf(now, zone(r.facilityId)));
  const errors = counts.messages.error ?? 0;
  const gaps = subs.filter((s) => s.missing.length > 0);
  const reload = deps.mappings.lastReload;
  return html`<section aria-labelledby="h-recon"><h2 id="h-recon">Orders today (each facility's day in its time zone)</h2>
${table(
  ['Facility', 'Day', 'Seen', 'Reported', 'Held', 'Excluded'],
  recon.map((r) => {
    // each count links to the orders it counts (the facility's day, as counted here)
    const to = (n: number, state?: OrderState, reason?: string) =>
      html`<a href="${ordersHref({ facility: r.facilityId, day: r.day, state, reason })}" aria-label="${`${n} ${state ?? 'seen'}${reason !== undefined ? ` ${reason}` : ''} order(s) of ${r.facilityId || '(unknown)'} on ${r.day}`}">${n}</a>`;
    const reasons = (m: Record<string, number>, state: OrderState) => Object.entries(m).map(([k, v], i) => html`${i > 0 ? ', ' : ''}${k} ${to(v, state, k)}`);
    return [r.facilityId || '(unknown)', html`${r.day} <small>${zone(r.facilityId)}</small>`, to(r.seen), to(r.reported, 'reported'), html`${to(sum(r.held), 'held')} <small>${reasons(r.held, 'held')}</small>`, html`${to(sum(r.excluded), 'excluded')} <small>${reasons(r.excluded, 'excluded')}</small>`];
  }),
  { empty: 'No order seen today.' },
)}</section>
<section aria-labelledby="h-queue"><h2 id="h-queue">Error queue</h2>
<p class="big">${link('/ui/messages?status=error', `${errors} message(s)`)} wait in the error queue. ${link('/ui/worklist', 'Open the worklist')}.</p>
<p>Messages by status: ${detail(counts.messages) || 'none yet'}. Records by state: ${detail(counts.records) || 'none yet'}.</p></section>
<section aria-labelledby="h-subs"><h2 id="h-subs">FHIR subscriptions</h2>
${table(
  ['Subscription', 'Events received', 'Reported by the server', 'Missing events', 'Last seen'],
  subs.map((s) => [s.subscription, s.received, s.reportedSince, s.missing.length > 0 ? html`<strong class="bad">${s.missing.length}</strong> <small>${s.missing.slice(0, 10).join(', ')}</small>` : '0', when(s.lastSeenAt, zone(''))]),
  { empty: 'No subscription notification received.' },
)}${gaps.length > 0 ? html`<p class="bad">${gaps.length} subscription(s) have gaps: re-query the missing events.</p>` : ''}</section>
<section aria-labelledby="h-tx"><h2 id="h-tx">Last transactions</h2>
${table(
  ['Transaction', 'Facility', 'State', 'NRDR status', 'Records', 'Created'],
  txs.map((t) => [link(`/ui/transactions/${encodeURIComponent(t.transactionId)}`, t.transactionId), t.facilityId, t.status, t.nrdr?.Status ?? '', t.records.length, when(t.createdAt, zone(t.facilityId))]),
  { empty: 'No transaction sent yet.' },
)}</section>
<section aria-labelledby="h-tables"><h2 id="h-tables">Mapping tables</h2>
<p>In force: <code id="tables-dir">${deps.mappings.dir}</code>, generation ${deps.mappings.generation} (1 = as started).</p>
${
  reload === undefined || (reload.ok && reload.generation === 1)
    ? html`<p>No reload since start.</p>`
    : reload.ok
      ? html`<p class="good">Last reload ${reload.at}: loaded.</p>`
      : html`<p class="bad">Last reload ${reload.at}: refused; the previous tables stay in force.</p><ul class="problems">${reload.problems.map((p) => html`<li><code>${p}</code></li>`)}${reload.failingTests.map((t) => html`<li>site test <code>${t.name}</code> would fail (run <code>cdsr-adapter test-mappings</code>)</li>`)}</ul>`
}</section>`;
}
