// `cdsr-adapter worklist`: the running service's unmapped-code worklist (GET /api/worklist) with
// where the tables guessed, and with --dry-run how many messages of its error queue the tables on
// disk would resolve.
import type { Config } from '../config.js';
import { errorMessage } from '../cdsr/errors.js';
import type { DryRunResult } from '../inbound/dry-run.js';
import type { Worklist } from '../inbound/worklist.js';
import { headers, serverUrl } from './outbound.js';
import { renderTable } from './table.js';
import { EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE, type CliIo } from './validate.js';

export interface WorklistCliOptions {
  readonly url?: string;
  readonly json?: boolean;
  readonly dryRun?: boolean;
}

type DryRunAnswer = ({ tablesLoad: true } & DryRunResult) | { tablesLoad: false; problems: string[] };

/** A sending facility facilities.csv has now: its row says replay, not what to add. */
const facilityKnown = (r: Worklist['rows'][number]) => r.fix !== undefined && r.field === 'Facility_ID';

function printWorklist(w: Worklist, io: CliIo): void {
  const outside = w.rows.filter((r) => r.fix !== undefined && !facilityKnown(r)).length;
  const known = w.rows.filter(facilityKnown);
  io.out(
    `${w.messages} message(s) in the error queue; ${w.rows.length - outside - known.length} value(s) to add to the tables${outside > 0 ? `, ${outside} mapped value(s) outside ACR's value sets to fix` : ''}${known.length > 0 ? `, ${known.length} sending facility(ies) in facilities.csv now (replay)` : ''}\n`,
  );
  if (w.rows.length > 0) {
    io.out(
      renderTable(
        ['FIELD', 'TABLE', 'VALUE', 'FACILITY', 'MESSAGES', 'FIRST SEEN', 'LAST SEEN', 'EXAMPLES'],
        w.rows.map((r) => [
          r.field,
          r.table,
          r.system !== null ? `${r.value} (system ${r.system})` : r.value,
          r.facilityId ?? '',
          String(r.count),
          r.firstSeen,
          r.lastSeen,
          r.examples.map((id) => `#${id}`).join(' '),
        ]),
      ),
    );
    const byTable = new Map<string, string[]>();
    for (const r of w.rows) if (r.fix === undefined) byTable.set(r.table, [...(byTable.get(r.table) ?? []), r.stub]);
    for (const [table, stubs] of byTable) io.out(`\n# rows to add to ${table} (fill in the code):\n${stubs.join('\n')}\n`);
    // a value outside ACR's value set has no row to add: the row or rule that gave it is wrong
    const fixes = w.rows.filter((r) => r.fix !== undefined && !facilityKnown(r));
    if (fixes.length > 0)
      io.out(`\n# values outside ACR's value sets (change the row or rule named):\n${fixes.map((r) => `${r.table}: ${r.fix}`).join('\n')}\n`);
    if (known.length > 0) io.out(`\n# sending facilities facilities.csv has now (nothing to add):\n${known.map((r) => `${r.table}: ${r.fix}`).join('\n')}\n`);
    const folded = w.rows.filter((r) => r.folded !== undefined);
    if (folded.length > 0)
      io.out(
        `\n# messages read while their facility was unknown, counted in the rows of the facility they have now:\n${folded.map((r) => `${r.field} ${r.value} (${r.facilityId ?? ''}): ${r.folded}`).join('\n')}\n`,
      );
  }
  const other = Object.entries(w.otherProblems);
  if (other.length > 0) io.out(`\nwaiting for other reasons (no table row fixes them): ${other.map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  if (w.guesses !== undefined && w.guesses.length > 0) {
    io.out(
      `\n${w.guesses.reduce((n, g) => n + g.count, 0)} value(s) of the records were guessed by the tables (check the rule reads what your senders put there):\n`,
    );
    io.out(
      renderTable(
        ['FIELD', 'RULE', 'GUESS', 'VALUES', 'EXAMPLES'],
        w.guesses.map((g) => [g.field, g.rule, g.guess, String(g.count), g.examples.join(' ')]),
      ),
    );
  }
}

export async function runWorklist(
  config: Pick<Config, 'HOST' | 'PORT' | 'CDSR_OPERATE_API_KEYS' | 'CDSR_INBOUND_API_KEYS'> & Partial<Pick<Config, 'CDSR_API_KEY'>>,
  o: WorklistCliOptions,
  io: CliIo,
): Promise<number> {
  const base = serverUrl(config, o.url);
  try {
    const r = await fetch(`${base}/api/worklist${o.dryRun ? '/dry-run' : ''}`, { method: o.dryRun ? 'POST' : 'GET', headers: headers(config) });
    if (!r.ok) {
      io.err(`cdsr-adapter: ${base} answered ${r.status}: ${await r.text()}\n`);
      return EXIT_UNREADABLE;
    }
    if (o.dryRun) {
      const d = (await r.json()) as DryRunAnswer;
      if (o.json) io.out(`${JSON.stringify(d, null, 2)}\n`);
      else if (!d.tablesLoad) io.out(`the tables on disk do not load:\n${d.problems.join('\n')}\n`);
      else {
        io.out(
          `dry run against the tables on disk: ${d.wouldResolve} of ${d.messages} message(s) would resolve, ${d.stillError} would stay in the error queue${d.waitingForFetch > 0 ? ` (${d.waitingForFetch} waiting for a FHIR fetch)` : ''}; nothing stored\n`,
        );
        if (d.remaining.rows.length > 0) printWorklist(d.remaining, io);
      }
      return d.tablesLoad && d.stillError === 0 ? EXIT_OK : EXIT_PROBLEMS;
    }
    const w = (await r.json()) as Worklist;
    if (o.json) io.out(`${JSON.stringify(w, null, 2)}\n`);
    else printWorklist(w, io);
    // anything in the error queue waits for an analyst, a row to add or not (a MERGE_COLLISION, say)
    return w.rows.length === 0 && w.messages === 0 ? EXIT_OK : EXIT_PROBLEMS;
  } catch (e) {
    io.err(`cdsr-adapter: the service at ${base} cannot be reached (${errorMessage(e)}); is it running?\n`);
    return EXIT_UNREADABLE;
  }
}
