// Overview: today's reconciliation by facility and state, the error queue, subscription gaps, the
// last transactions with NRDR's status, and the tables in force with the last reload's result.
import { zoneOf, type AppOptions } from '../deps.js';
import { localDayOf, type OrderState } from '../../store/ledger.js';
import { age, chartDays, dayChart, shiftDay } from './day-chart.js';
import { ordersHref } from './orders-page.js';
import { html, link, table, when, type Html } from './html.js';

/** Days in the Overview's chart of each facility. */
const CHART_DAYS = 30;

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
  // each facility's last 30 days end on its own today, within a UTC day of ours
  const [days, counts, subs, txs, oldest] = await Promise.all([
    deps.store.reconciliation({ from: utcDay(-CHART_DAYS), to: utcDay(1), timeZoneOf: zone }),
    deps.store.counts(),
    deps.store.subscriptions(),
    deps.store.transactions({ newestFirst: true, limit: 10 }),
    deps.store.oldestHeld(),
  ]);
  const recon = days.filter((r) => r.day === localDayOf(now, zone(r.facilityId)));
  const errors = counts.messages.error ?? 0;
  const gaps = subs.filter((s) => s.missing.length > 0);
  const reload = deps.mappings.lastReload;
  const facilities = [...new Set([...days.map((r) => r.facilityId), ...Object.keys(oldest)])].sort();
  const charts = facilities.map((f, i) => {
    const tz = zone(f);
    const today = localDayOf(now, tz);
    const series = chartDays(days, f, today, CHART_DAYS);
    const held = oldest[f];
    // the facility's local day, as the Orders page counts it
    const cell = (day: string, state: OrderState | undefined, n: number) => (n > 0 ? link(ordersHref({ facility: f, day, state }), n) : n);
    return html`<section aria-labelledby="h-days-${i}"><h3 id="h-days-${i}">Facility ${f || '(unknown)'} <small>${tz}</small></h3>
<p>${held !== undefined ? html`Oldest held order: waiting ${age(held, now)}, since ${when(held, tz)}. ${link(ordersHref({ facility: f, state: 'held' }), 'Held orders')}.` : 'No order held.'}</p>
${dayChart({ facilityId: f, timeZone: tz, days: series, idPrefix: `days-${i}`, href: (day) => ordersHref({ facility: f, day }) })}
<details><summary>The ${CHART_DAYS} days as a table</summary>${table(
      ['Day', 'Seen', 'Reported', 'Held', 'Excluded'],
      series.map((d) => [
        d.day,
        cell(d.day, undefined, d.reported + d.held + d.excluded),
        cell(d.day, 'reported', d.reported),
        cell(d.day, 'held', d.held),
        cell(d.day, 'excluded', d.excluded),
      ]),
      { caption: `Facility ${f || '(unknown)'}, ${shiftDay(today, 1 - CHART_DAYS)} to ${today} (${tz})` },
    )}</details></section>`;
  });
  return html`<section aria-labelledby="h-recon"><h2 id="h-recon">Orders today (each facility's day in its time zone)</h2>
${table(
  ['Facility', 'Day', 'Seen', 'Reported', 'Held', 'Excluded'],
  recon.map((r) => {
    // each count links to the orders it counts (the facility's day, as counted here)
    const to = (n: number, state?: OrderState, reason?: string) =>
      html`<a href="${ordersHref({ facility: r.facilityId, day: r.day, state, reason })}" aria-label="${`${n} ${state ?? 'seen'}${reason !== undefined ? ` ${reason}` : ''} order(s) of ${r.facilityId || '(unknown)'} on ${r.day}`}">${n}</a>`;
    const reasons = (m: Record<string, number>, state: OrderState) => Object.entries(m).map(([k, v], i) => html`${i > 0 ? ', ' : ''}${k} ${to(v, state, k)}`);
    return [
      r.facilityId || '(unknown)',
      html`${r.day} <small>${zone(r.facilityId)}</small>`,
      to(r.seen),
      to(r.reported, 'reported'),
      html`${to(sum(r.held), 'held')} <small>${reasons(r.held, 'held')}</small>`,
      html`${to(sum(r.excluded), 'excluded')} <small>${reasons(r.excluded, 'excluded')}</small>`,
    ];
  }),
  { empty: 'No order seen today.' },
)}</section>
<section aria-labelledby="h-days"><h2 id="h-days">The last ${CHART_DAYS} days (each facility's days in its time zone)</h2>
${charts.length > 0 ? charts : html`<p class="empty">No order seen in the last ${CHART_DAYS} days.</p>`}</section>
<section aria-labelledby="h-queue"><h2 id="h-queue">Error queue</h2>
<p class="big">${link('/ui/messages?status=error', `${errors} message(s)`)} wait in the error queue. ${link('/ui/worklist', 'Open the worklist')}.</p>
<p>Messages by status: ${detail(counts.messages) || 'none yet'}. Records by state: ${detail(counts.records) || 'none yet'}.</p></section>
<section aria-labelledby="h-subs"><h2 id="h-subs">FHIR subscriptions</h2>
${table(
  ['Subscription', 'Events received', 'Reported by the server', 'Missing events', 'Last seen'],
  subs.map((s) => [
    s.subscription,
    s.received,
    s.reportedSince,
    s.missing.length > 0 ? html`<strong class="bad">${s.missing.length}</strong> <small>${s.missing.slice(0, 10).join(', ')}</small>` : '0',
    when(s.lastSeenAt, zone('')),
  ]),
  { empty: 'No subscription notification received.' },
)}${gaps.length > 0 ? html`<p class="bad">${gaps.length} subscription(s) have gaps: re-query the missing events.</p>` : ''}</section>
<section aria-labelledby="h-tx"><h2 id="h-tx">Last transactions</h2>
${table(
  ['Transaction', 'Facility', 'State', 'NRDR status', 'Records', 'Created'],
  txs.map((t) => [
    link(`/ui/transactions/${encodeURIComponent(t.transactionId)}`, t.transactionId),
    t.facilityId,
    t.status,
    t.nrdr?.Status ?? '',
    t.records.length,
    when(t.createdAt, zone(t.facilityId)),
  ]),
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
