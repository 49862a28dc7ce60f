// The Overview's day chart as the server draws it: exact SVG for a few fixed days (bar heights,
// the day labels, the links to each day's orders, the words a screen reader gets), parts of a bar
// that always add up to the whole, and the days filled from a reconciliation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReconciliationRow } from '../../store/ledger.js';
import { age, chartDays, dayChart, type ChartDay } from './day-chart.js';

const href = (day: string) => `/ui/orders?facility=100000&from=${day}&to=${day}`;
const DAYS: ChartDay[] = [
  { day: '2026-12-02', reported: 0, held: 0, excluded: 0 },
  { day: '2026-12-03', reported: 3, held: 1, excluded: 0 },
  { day: '2026-12-04', reported: 1, held: 2, excluded: 1 },
];

describe('day chart', () => {
  it('draws each day as a stacked bar scaled to the busiest day, patterned by state, a link with its numbers in words; a day without orders has no bar', () => {
    assert.equal(
      dayChart({ facilityId: '100000', timeZone: 'America/Chicago', days: DAYS, idPrefix: 'days-0', href }).text,
      [
        '<svg xmlns="http://www.w3.org/2000/svg" class="day-chart" viewBox="0 0 240 146" width="240" height="146" role="group" aria-labelledby="days-0-t" aria-describedby="days-0-d"><title id="days-0-t">Orders of facility 100000 by day, 2026-12-02 to 2026-12-04 (America/Chicago)</title><desc id="days-0-d">8 order(s) seen in 3 day(s), at most 4 a day. Each bar is a day&#39;s orders seen: reported (solid) at the bottom, held (hatched) above, excluded (dotted) on top; the number above a bar is the orders seen that day. Follow a bar to that day&#39;s orders.</desc>',
        '<defs><pattern id="days-0-held" patternUnits="userSpaceOnUse" width="4" height="4"><rect width="4" height="4" fill="#fff4e5"/><path d="M0 4L4 0" stroke="#9a6700" stroke-width="1.2"/></pattern><pattern id="days-0-excl" patternUnits="userSpaceOnUse" width="4" height="4"><rect width="4" height="4" fill="#fff"/><circle cx="2" cy="2" r="0.9" fill="#57606a"/></pattern></defs>',
        '<g aria-hidden="true"><rect x="30" y="4" width="10" height="10" fill="#0b3d66" stroke="#1b1f24" stroke-width="0.5"/><text x="44" y="13" font-size="10">reported</text><rect x="100" y="4" width="10" height="10" fill="url(#days-0-held)" stroke="#1b1f24" stroke-width="0.5"/><text x="114" y="13" font-size="10">held</text><rect x="170" y="4" width="10" height="10" fill="url(#days-0-excl)" stroke="#1b1f24" stroke-width="0.5"/><text x="184" y="13" font-size="10">excluded</text><line x1="28" y1="130" x2="238" y2="130" stroke="#57606a" stroke-width="1"/><text x="26" y="34" text-anchor="end" font-size="9">4</text><text x="26" y="130" text-anchor="end" font-size="9">0</text><text x="70" y="142" text-anchor="middle" font-size="9">12-04</text></g>',
        '<a href="/ui/orders?facility=100000&amp;from=2026-12-03&amp;to=2026-12-03" aria-label="2026-12-03: 4 seen, 3 reported, 1 held, 0 excluded; open these orders"><title>2026-12-03: 4 seen, 3 reported, 1 held, 0 excluded</title><rect x="48" y="55" width="12" height="75" fill="#0b3d66" stroke="#1b1f24" stroke-width="0.5"/><rect x="48" y="30" width="12" height="25" fill="url(#days-0-held)" stroke="#1b1f24" stroke-width="0.5"/><text x="54" y="28" text-anchor="middle" font-size="8">4</text></a><a href="/ui/orders?facility=100000&amp;from=2026-12-04&amp;to=2026-12-04" aria-label="2026-12-04: 4 seen, 1 reported, 2 held, 1 excluded; open these orders"><title>2026-12-04: 4 seen, 1 reported, 2 held, 1 excluded</title><rect x="64" y="105" width="12" height="25" fill="#0b3d66" stroke="#1b1f24" stroke-width="0.5"/><rect x="64" y="55" width="12" height="50" fill="url(#days-0-held)" stroke="#1b1f24" stroke-width="0.5"/><rect x="64" y="30" width="12" height="25" fill="url(#days-0-excl)" stroke="#1b1f24" stroke-width="0.5"/><text x="70" y="28" text-anchor="middle" font-size="8">4</text></a></svg>',
      ].join('\n'),
    );
  });

  it('rounds running totals, so the parts of a bar add up to its height; large counts are shortened above the bar; ids follow the prefix; text is escaped', () => {
    const svg = dayChart({
      facilityId: '<F>',
      timeZone: 'UTC',
      days: [
        { day: '2026-12-04', reported: 1, held: 1, excluded: 1 },
        { day: '2026-12-05', reported: 1234, held: 0, excluded: 0 },
      ],
      idPrefix: 'days-7',
      href,
    }).text;
    const heights = [...svg.matchAll(/<rect x="(\d+)" y="(\d+)" width="12" height="(\d+)"/g)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])]);
    // 3 of 1234 is under a unit of height: that day has no rect, only its number (and link)
    assert.deepEqual(heights, [[48, 30, 100]]);
    assert.match(
      svg,
      /aria-label="2026-12-04: 3 seen, 1 reported, 1 held, 1 excluded; open these orders"><title>2026-12-04: 3 seen, 1 reported, 1 held, 1 excluded<\/title><text x="38" y="128"/,
    );
    assert.match(svg, /<text x="54" y="28" text-anchor="middle" font-size="8">1\.2k<\/text><\/a><\/svg>$/);
    assert.match(svg, /<title id="days-7-t">Orders of facility &lt;F&gt; by day, 2026-12-04 to 2026-12-05 \(UTC\)<\/title>/);
    assert.match(svg, /<text x="26" y="34" text-anchor="end" font-size="9">1\.2k<\/text>/);
    assert.match(svg, /fill="url\(#days-7-held\)"/);
    const even = dayChart({
      facilityId: '100000',
      timeZone: 'UTC',
      days: [{ day: '2026-12-04', reported: 1, held: 1, excluded: 1 }],
      idPrefix: 'd',
      href,
    }).text;
    assert.deepEqual(
      [...even.matchAll(/<rect x="32" y="(\d+)" width="12" height="(\d+)"/g)].map((m) => [Number(m[1]), Number(m[2])]),
      [
        [97, 33],
        [63, 34],
        [30, 33],
      ],
    );
  });

  it('fills the last n days of one facility from a reconciliation, zeros where it has none, held and excluded summed over their reasons', () => {
    const rows: ReconciliationRow[] = [
      { facilityId: '100000', day: '2026-12-01', seen: 9, reported: 9, held: {}, excluded: {} },
      { facilityId: '100000', day: '2026-12-03', seen: 6, reported: 1, held: { orphan: 2, incomplete: 1 }, excluded: { cancelled: 2 } },
      { facilityId: '200000', day: '2026-12-04', seen: 5, reported: 5, held: {}, excluded: {} },
    ];
    assert.deepEqual(chartDays(rows, '100000', '2026-12-04', 3), [
      { day: '2026-12-02', reported: 0, held: 0, excluded: 0 },
      { day: '2026-12-03', reported: 1, held: 3, excluded: 2 },
      { day: '2026-12-04', reported: 0, held: 0, excluded: 0 },
    ]);
    // across a month's end
    assert.deepEqual(
      chartDays([], 'x', '2026-03-01', 2).map((d) => d.day),
      ['2026-02-28', '2026-03-01'],
    );
  });

  it('says how long an order has waited in the largest unit that fits', () => {
    const now = new Date('2026-12-04T12:00:00Z');
    assert.deepEqual(
      ['2026-12-04T11:15:00Z', '2026-12-04T10:59:00Z', '2026-12-02T12:00:01Z', '2026-11-01T12:00:00Z', 'later'].map((t) => age(t, now)),
      ['45 min', '1 h', '47 h', '33 days', ''],
    );
  });
});
