// Worklist: the unmapped values of the error queue with a CSV row to paste into each table (or the
// row or rule to fix, for a mapped value outside ACR's value set), the dry run against the tables
// on disk, the replay of the error queue, and where the tables guessed.
import type { DryRunResult } from '../../inbound/dry-run.js';
import type { Worklist } from '../../inbound/worklist.js';
import { csrfField, html, link, qs, table, when, zoneIn, type Html, type PageContext } from './html.js';

function rowsTable(w: Worklist, ctx: PageContext): Html {
  return table(
    ['Field', 'Table', 'Source value', 'Facility', 'Messages', 'First seen', 'Last seen', 'Examples', 'CSV row to add'],
    w.rows.map((r) => [
      r.field,
      html`<code>${r.table}</code>`,
      html`<code>${r.value}</code>${r.system !== null ? html` <small>system ${r.system}</small>` : ''}`,
      // messages read before the facility was known are counted here: the row says so
      r.folded !== undefined ? html`${r.facilityId ?? ''}<br><small class="folded">${r.folded}</small>` : (r.facilityId ?? ''),
      r.count,
      when(r.firstSeen, zoneIn(ctx, r.facilityId ?? '')),
      when(r.lastSeen, zoneIn(ctx, r.facilityId ?? '')),
      r.examples.map((id) => html`${link(`/ui/messages/${id}`, `#${id}`)} `),
      r.fix !== undefined ? html`<span class="fix">${r.fix}</span>` : html`<code class="stub">${r.stub}</code>`,
    ]),
    { empty: 'No unmapped value waits in the error queue.', id: 'worklist' },
  );
}

/** The stubs of each table together, ready to paste below its last row. */
function stubs(w: Worklist): Html {
  const byTable = new Map<string, string[]>();
  for (const r of w.rows) if (r.fix === undefined) byTable.set(r.table, [...(byTable.get(r.table) ?? []), r.stub]);
  return html`${[...byTable].map(
    (
      [t, lines],
      i,
    ) => html`<h3>${t}</h3><textarea id="stub-${i}" readonly rows="${Math.min(lines.length + 1, 12)}" aria-label="rows to add to ${t}">${lines.join('\n')}</textarea>
<button type="button" data-copy="stub-${i}">Copy rows for ${t}</button>`,
  )}`;
}

function others(w: Worklist): Html {
  const entries = Object.entries(w.otherProblems);
  if (entries.length === 0) return html``;
  return html`<p>Messages in the error queue for other reasons (no table row would fix them): ${entries.map(([code, n]) => html`<code>${code}</code> ${n} `)}
${link('/ui/messages?status=error', 'see them')}.</p>`;
}

// one row per field, rule and reason with a count: a table that guesses for every order is one row
function guessesSection(w: Worklist): Html {
  if (w.guesses === undefined) return html``;
  const total = w.guesses.reduce((n, g) => n + g.count, 0);
  return html`<section aria-labelledby="h-guesses"><h2 id="h-guesses">Where the tables guessed</h2>
<p>${total} value(s) of the records come from a fallback path, a later alternative, a default, or a path the table marks as a guess. They are sent as they are: check that each rule reads what your senders put there, then put the right path first (or mark it <code>guess:</code> with its reason).</p>
${table(
  ['Field', 'Rule', 'Why it is a guess', 'Values', 'Example messages'],
  w.guesses.map((g) => [
    html`<code>${g.field}</code>`,
    html`<code>${g.rule}</code>`,
    html`<span class="guess">guess</span> ${g.guess}`,
    g.count,
    g.examples.map((id) => html`${link(`/ui/messages${qs({ controlId: id })}`, id)} `),
  ]),
  { empty: 'No value of the records is a guess.', id: 'guesses' },
)}</section>`;
}

export function worklistPage(w: Worklist, ctx: PageContext, dry?: DryRunResult | { tablesLoad: false; problems: string[] }): Html {
  const outside = w.rows.filter((r) => r.fix !== undefined).length;
  return html`<p>${w.messages} message(s) in the error queue; ${w.rows.length - outside} distinct value(s) to add to the tables${outside > 0 ? `, ${outside} mapped value(s) outside ACR's value sets to fix` : ''}.</p>
${dry ? dryRunSection(dry, ctx) : ''}
<div class="actions"><form method="post" action="/ui/worklist/dry-run">${csrfField(ctx)}<button type="submit" id="dry-run">Dry run against the tables on disk</button></form>
<form method="post" action="/ui/worklist/replay">${csrfField(ctx)}<button type="submit" id="replay-all">Replay the error queue (tables in force)</button></form></div>
${rowsTable(w, ctx)}
${others(w)}
${guessesSection(w)}
${w.rows.some((r) => r.fix === undefined) ? html`<section aria-labelledby="h-stubs"><h2 id="h-stubs">Rows to paste, by table</h2><p>Replace the placeholder with the ACR code (or Facility_ID), save the file: the adapter reloads the tables; then dry run and replay.</p>${stubs(w)}</section>` : ''}`;
}

function dryRunSection(d: DryRunResult | { tablesLoad: false; problems: string[] }, ctx: PageContext): Html {
  if (!('messages' in d)) {
    return html`<section class="result bad" id="dry-run-result" role="status"><h2>Dry run: the tables on disk do not load</h2><ul class="problems">${d.problems.map((p) => html`<li><code>${p}</code></li>`)}</ul></section>`;
  }
  return html`<section class="result" id="dry-run-result" role="status"><h2>Dry run against the tables on disk</h2>
<p><strong>${d.wouldResolve}</strong> of ${d.messages} message(s) would resolve; ${d.stillError} would stay in the error queue${d.waitingForFetch > 0 ? ` (${d.waitingForFetch} waiting for a FHIR fetch)` : ''}. Nothing was stored.</p>
${d.remaining.rows.length > 0 ? html`<p>Still unmapped with those tables:</p>${rowsTable(d.remaining, ctx)}` : ''}</section>`;
}

export function replayResultPage(r: { replayed: number; byStatus: Record<string, number> }): Html {
  return html`<section class="result" id="replay-result" role="status"><p><strong>${r.replayed}</strong> message(s) replayed: ${
    Object.entries(r.byStatus)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none'
  }.</p></section><p>${link('/ui/worklist', 'Back to the worklist')} · ${link('/ui/messages?status=error', 'the error queue')}</p>`;
}
