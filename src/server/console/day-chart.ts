// The Overview's picture of a facility's last days: one stacked bar a day (reported, held,
// excluded; together the orders seen), drawn here as SVG on the server (no script, no CDN). It is
// readable without colour: each state has its own pattern (solid, hatched, dotted) named in a
// legend, each bar carries its numbers in words for a screen reader and on hover, and the page
// puts the same numbers in a table beside it. Ids are derived from the caller's prefix, never
// random, so the same counts always give the same SVG.
import { html, type Html } from './html.js';
import type { ReconciliationRow } from '../../store/ledger.js';

export interface ChartDay {
  /** YYYY-MM-DD in the facility's time zone. */
  readonly day: string;
  readonly reported: number;
  readonly held: number;
  readonly excluded: number;
}

export interface DayChartInput {
  readonly facilityId: string;
  readonly timeZone: string;
  /** Consecutive days, oldest first. */
  readonly days: readonly ChartDay[];
  /** Unique in the page: the SVG's ids (title, desc, patterns) start with it. */
  readonly idPrefix: string;
  /** Where a day's bar leads: the orders of that facility and day. */
  readonly href: (day: string) => string;
}

const seenOf = (d: ChartDay): number => d.reported + d.held + d.excluded;
const sum = (r: Readonly<Record<string, number>>): number => Object.values(r).reduce((a, b) => a + b, 0);

/** `day` moved by `n` days (YYYY-MM-DD). */
export const shiftDay = (day: string, n: number): string => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/** The `n` days of `facilityId` up to `lastDay`, oldest first, a day without orders as zeros. */
export function chartDays(rows: readonly ReconciliationRow[], facilityId: string, lastDay: string, n: number): ChartDay[] {
  const byDay = new Map(rows.filter((r) => r.facilityId === facilityId).map((r) => [r.day, r]));
  return Array.from({ length: n }, (_, i) => {
    const day = shiftDay(lastDay, i - n + 1);
    const r = byDay.get(day);
    return { day, reported: r?.reported ?? 0, held: r ? sum(r.held) : 0, excluded: r ? sum(r.excluded) : 0 };
  });
}

/** A count short enough to sit above a 12-pixel bar. */
const short = (n: number): string => (n < 1000 ? String(n) : n < 10_000 ? `${(Math.floor(n / 100) / 10).toFixed(1)}k` : `${Math.floor(n / 1000)}k`);

/** One day in words: what a screen reader says for its bar, and the bar's tooltip. */
export const dayWords = (d: ChartDay): string => `${d.day}: ${seenOf(d)} seen, ${d.reported} reported, ${d.held} held, ${d.excluded} excluded`;

// geometry (user units): a legend row, the plot, a row of day labels
const STEP = 16;
const BAR = 12;
const LEFT = 30;
const TOP = 30;
const PLOT = 100;
const BOTTOM = 16;
const KEY = 70;
const LEGEND = LEFT + 3 * KEY;

export function dayChart(input: DayChartInput): Html {
  const { days, idPrefix: p } = input;
  // wide enough for the legend however few the days
  const width = Math.max(LEFT + days.length * STEP + 4, LEGEND);
  const height = TOP + PLOT + BOTTOM;
  const most = Math.max(0, ...days.map(seenOf));
  const max = Math.max(1, most);
  // heights from rounded running totals, so the parts of a bar always add up to the whole
  const y = (n: number) => TOP + PLOT - Math.round((n * PLOT) / max);
  const first = days[0]?.day ?? '';
  const last = days[days.length - 1]?.day ?? '';
  const total = days.reduce((a, d) => a + seenOf(d), 0);
  const fills = { reported: '#0b3d66', held: `url(#${p}-held)`, excluded: `url(#${p}-excl)` } as const;
  const bars = days.map((d, i) => {
    const seen = seenOf(d);
    // a day without orders has no bar to follow: its zeros are in the table
    if (seen === 0) return '';
    const x = LEFT + i * STEP + (STEP - BAR) / 2;
    const parts: Html[] = [];
    let below = 0;
    for (const state of ['reported', 'held', 'excluded'] as const) {
      const n = d[state];
      if (n === 0) continue;
      const top = y(below + n);
      const h = y(below) - top;
      below += n;
      if (h > 0) parts.push(html`<rect x="${x}" y="${top}" width="${BAR}" height="${h}" fill="${fills[state]}" stroke="#1b1f24" stroke-width="0.5"/>`);
    }
    const words = dayWords(d);
    return html`<a href="${input.href(d.day)}" aria-label="${words}; open these orders"><title>${words}</title>${parts}<text x="${x + BAR / 2}" y="${y(seen) - 2}" text-anchor="middle" font-size="8">${short(seen)}</text></a>`;
  });
  // a day label every seventh day, counted back from the last so that today is labelled
  const labels = days.map((d, i) =>
    (days.length - 1 - i) % 7 === 0
      ? html`<text x="${LEFT + i * STEP + STEP / 2}" y="${TOP + PLOT + 12}" text-anchor="middle" font-size="9">${d.day.slice(5)}</text>`
      : '',
  );
  const legend = (['reported', 'held', 'excluded'] as const).map(
    (state, i) =>
      html`<rect x="${LEFT + i * KEY}" y="4" width="10" height="10" fill="${fills[state]}" stroke="#1b1f24" stroke-width="0.5"/><text x="${LEFT + i * KEY + 14}" y="13" font-size="10">${state}</text>`,
  );
  const title = `Orders of facility ${input.facilityId || '(unknown)'} by day, ${first} to ${last} (${input.timeZone})`;
  const desc = `${total} order(s) seen in ${days.length} day(s), at most ${most} a day. Each bar is a day's orders seen: reported (solid) at the bottom, held (hatched) above, excluded (dotted) on top; the number above a bar is the orders seen that day. Follow a bar to that day's orders.`;
  return html`<svg xmlns="http://www.w3.org/2000/svg" class="day-chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="group" aria-labelledby="${p}-t" aria-describedby="${p}-d"><title id="${p}-t">${title}</title><desc id="${p}-d">${desc}</desc>
<defs><pattern id="${p}-held" patternUnits="userSpaceOnUse" width="4" height="4"><rect width="4" height="4" fill="#fff4e5"/><path d="M0 4L4 0" stroke="#9a6700" stroke-width="1.2"/></pattern><pattern id="${p}-excl" patternUnits="userSpaceOnUse" width="4" height="4"><rect width="4" height="4" fill="#fff"/><circle cx="2" cy="2" r="0.9" fill="#57606a"/></pattern></defs>
<g aria-hidden="true">${legend}<line x1="${LEFT - 2}" y1="${TOP + PLOT}" x2="${width - 2}" y2="${TOP + PLOT}" stroke="#57606a" stroke-width="1"/><text x="${LEFT - 4}" y="${TOP + 4}" text-anchor="end" font-size="9">${short(most)}</text><text x="${LEFT - 4}" y="${TOP + PLOT}" text-anchor="end" font-size="9">0</text>${labels}</g>
${bars}</svg>`;
}

/** How long an order has waited, in the largest unit that says it (`45 min`, `5 h`, `3 days`). */
export function age(fromIso: string, now: Date): string {
  const ms = now.getTime() - Date.parse(fromIso);
  if (!Number.isFinite(ms)) return '';
  const min = Math.max(0, Math.floor(ms / 60_000));
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h`;
  return `${Math.floor(h / 24)} days`;
}
