// Test bench: pasted messages run through the tables in force, or through a draft mappings folder
// (read; written only by "Save as site test", into its tests/), merged, batched and validated as
// `map` does, and shown beside their trace and problems; nothing is stored.
import { accessSync, constants, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { errorMessage } from '../../cdsr/errors.js';
import { formatProblemLine } from '../../cdsr/problem.js';
import { loadMappings, type MappingTables } from '../../mapping/load.js';
import { mapFiles, type MapFilesResult } from '../../mapping/map-files.js';
import { csrfField, html, problemList, table, type Html, type PageContext } from './html.js';

/** The pasted text as inputs: one FHIR JSON document, or ER7 messages (each from its MSH segment). */
export function splitPasted(text: string): { name: string; text: string }[] {
  const t = text.replace(/^\uFEFF/, '').trim();
  if (t === '') return [];
  if (t.startsWith('{')) return [{ name: 'pasted.json', text: t }];
  const parts = t.split(/\r\n|\r|\n/).reduce<string[][]>((acc, line) => {
    if (line.startsWith('MSH') || acc.length === 0) acc.push([]);
    if (line.trim() !== '') acc[acc.length - 1]!.push(line);
    return acc;
  }, []);
  return parts.map((lines, i) => ({ name: `message-${i + 1}.hl7`, text: lines.join('\r') + '\r' }));
}

export const BENCH_MAX_MESSAGES = 200;

/** Maps the pasted inputs in a private temporary folder (removed afterwards). */
export function runBench(text: string, tables: MappingTables, o: { now: Date; defaultFacilityId?: string }): MapFilesResult & { inputsGiven: number } {
  const inputs = splitPasted(text).slice(0, BENCH_MAX_MESSAGES);
  const dir = mkdtempSync(join(tmpdir(), 'cdsr-bench-'));
  try {
    const files = inputs.map((x) => {
      const f = join(dir, x.name);
      writeFileSync(f, x.text, { mode: 0o600 });
      return f;
    });
    const r = mapFiles(files, {
      tables,
      ...(o.defaultFacilityId !== undefined ? { defaultFacilityId: o.defaultFacilityId } : {}),
      partnerId: 'bench',
      appId: 'bench',
      maxEncounters: 1000,
      now: o.now,
    });
    return { ...r, inputsGiven: inputs.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A draft folder the bench maps through: its tables, or why it cannot be used (problems as `file:line: message`). */
export type DraftTables = { readonly tables: MappingTables; readonly dir: string } | { readonly refused: string; readonly problems: readonly string[] };

/** Whether `path` is `root` or inside it (both absolute and normalised). */
function inside(root: string, path: string): boolean {
  const r = relative(root, path);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/** The real path of `path`, or of its deepest part that exists (undefined when none can be read). */
function realPrefix(path: string): string | undefined {
  for (let p = path; ; p = dirname(p)) {
    try {
      return realpathSync(p);
    } catch {
      if (dirname(p) === p) return undefined;
    }
  }
}

/**
 * Loads the tables of a draft mappings folder: a path inside `root` (CDSR_BENCH_DRAFTS_DIR;
 * absolute, or relative to the root) naming a directory the service can read. A path outside the
 * root, by its name or through a symbolic link, gets one answer whether it exists or not: the
 * form must not tell who uses it what is on the machine. The folder is only read (loadMappings
 * opens its files for reading; nothing is written).
 */
export function loadDraft(root: string | undefined, given: string): DraftTables {
  if (root === undefined)
    return { refused: 'draft folders are off: CDSR_BENCH_DRAFTS_DIR names the folder they must be in (docs/operations.md)', problems: [] };
  const top = resolve(root);
  const outside: DraftTables = { refused: `the draft folder must be inside ${top} (CDSR_BENCH_DRAFTS_DIR)`, problems: [] };
  const dir = resolve(top, given);
  if (!inside(top, dir)) return outside;
  const realTop = realPrefix(top);
  const real = realPrefix(dir);
  if (realTop === undefined || real === undefined || !inside(realTop, real)) return outside;
  try {
    if (!statSync(dir).isDirectory()) return { refused: `${dir} is not a directory`, problems: [] };
    accessSync(dir, constants.R_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      refused:
        code === 'ENOENT' ? `${dir} does not exist` : code === 'EACCES' ? `${dir} is not readable by the service` : `${dir} cannot be read: ${errorMessage(e)}`,
      problems: [],
    };
  }
  const loaded = loadMappings(dir);
  // its files named relative to it (`crosswalks/modality.csv:4`), as for the tables in force
  if (!loaded.tables)
    return { refused: `the draft in ${dir} does not load`, problems: loaded.problems.map((p) => formatProblemLine(p).replaceAll(`${dir}${sep}`, '')) };
  return { tables: loaded.tables, dir };
}

export interface BenchView {
  readonly text: string;
  /** The draft folder asked for ('' for the tables in force). */
  readonly draft: string;
  readonly result?: ReturnType<typeof runBench>;
  readonly draftRefused?: { readonly refused: string; readonly problems: readonly string[] };
  /** The site test name asked for, and what saving it did. */
  readonly testName?: string;
  readonly saved?: SaveView;
}

/** What "Save as site test" did: the files written, the files that are there already (replace to write over them), or why not. */
export type SaveView = { readonly saved: readonly string[] } | { readonly exists: readonly string[] } | { readonly refused: string };

/** The pasted text as the inputs of a site test (as the bench splits it). */
export function siteTestInputs(text: string): { ext: 'hl7' | 'json'; text: string }[] {
  return splitPasted(text).map((x) => ({ ext: x.name.endsWith('.json') ? 'json' : 'hl7', text: x.text }));
}

export function benchPage(ctx: PageContext, view: BenchView): Html {
  return html`<form method="post" action="/ui/bench" class="bench">${csrfField(ctx)}
<label for="bench-text">HL7 v2 messages (each from its MSH segment) or one FHIR resource or Bundle</label>
<textarea id="bench-text" name="text" rows="12" spellcheck="false">${view.text}</textarea>
<label for="bench-draft">Draft mappings folder (optional): a folder inside the drafts folder the adapter is configured with (CDSR_BENCH_DRAFTS_DIR), by its path there or in full; it is only read, except by Save as site test (into its tests/). Empty: the tables in force.</label>
<input id="bench-draft" name="draft" value="${view.draft}" spellcheck="false" placeholder="/srv/cdsr/mappings-draft">
<button type="submit" id="bench-run">Run</button> <small>Nothing is stored; PartnerID and App_ID read "bench".</small>
${view.draft !== '' && (view.result !== undefined || view.saved !== undefined) ? saveFields(view) : ''}</form>
${view.saved ? savedNote(view.saved) : ''}
${view.draftRefused ? html`<div id="bench-draft-refused"><p class="bad" role="alert">${view.draftRefused.refused}${view.draftRefused.problems.length > 0 ? ':' : '.'}</p>${view.draftRefused.problems.length > 0 ? html`<ul class="problems">${view.draftRefused.problems.map((p) => html`<li><code>${p}</code></li>`)}</ul>` : ''}</div>` : ''}
${view.result ? html`<p id="bench-tables">Mapped through ${view.draft !== '' ? html`the draft folder <code>${view.draft}</code>` : 'the tables in force'}.</p>${benchResult(view.result)}` : ''}`;
}

// in the bench's own form: what is saved is the text and draft folder above, as they are now
function saveFields(view: BenchView): Html {
  const exists = view.saved !== undefined && 'exists' in view.saved;
  return html`<fieldset class="save-test"><legend>Save as site test</legend>
<p>Writes the messages above, and what the draft folder's tables give them as <code>test-mappings</code> runs them, into the draft folder's <code>tests/</code>.</p>
<label for="bench-test-name">Site test name (letters, digits, - and _)</label>
<input id="bench-test-name" name="name" value="${view.testName ?? ''}" pattern="[A-Za-z0-9][A-Za-z0-9_\\-]{0,63}" maxlength="64" spellcheck="false">
${exists ? html`<label><input type="checkbox" name="replace" value="yes"> Replace the files of site test ${view.testName ?? ''} that are there</label>` : ''}
<button type="submit" formaction="/ui/bench/save-test" id="bench-save">Save as site test</button></fieldset>`;
}

function savedNote(v: SaveView): Html {
  if ('refused' in v) return html`<p class="bad" role="alert" id="bench-saved">Not saved: ${v.refused}.</p>`;
  if ('exists' in v)
    return html`<p class="bad" role="alert" id="bench-saved">Not saved: the draft folder's tests/ already has ${v.exists.join(', ')}. Tick "Replace" to write over them.</p>`;
  return html`<p role="status" id="bench-saved">Saved in the draft folder's tests/: ${v.saved.join(', ')}. <code>cdsr-adapter test-mappings</code> on that folder runs it.</p>`;
}

function benchResult(r: ReturnType<typeof runBench>): Html {
  const trace = r.inputs.flatMap((i) =>
    i.trace.map((t) => [
      i.input,
      html`<code>${t.field}</code>`,
      t.path,
      t.raw,
      t.crosswalk ?? '',
      t.value,
      html`${t.rule}${t.skipped ? html`<br><small>${t.skipped.join('; ')}</small>` : ''}`,
    ]),
  );
  return html`<div id="bench-result"><div class="side">
<section><h2>CDSR output</h2><p>${r.inputsGiven} input(s), ${r.transactions.length} transaction(s).</p><pre class="json">${JSON.stringify(r.transactions, null, 2)}</pre></section>
<section><h2>Problems</h2>${problemList(r.problems)}
${
  r.inputs.some((i) => i.misses.length > 0)
    ? html`<h3>Rules that found nothing</h3>${table(
        ['Input', 'Field', 'Rule', 'Tried'],
        r.inputs.flatMap((i) => i.misses.map((m) => [i.input, m.field, m.rule, [m.tried.join(', '), ...(m.skipped ?? [])].filter((t) => t !== '').join('; ')])),
      )}`
    : ''
}</section></div>
<section><h2>Trace: where each value came from</h2>${table(['Input', 'Field', 'Path', 'Raw', 'Crosswalk row', 'Value', 'Rule'], trace, { empty: 'No value mapped.' })}</section></div>`;
}
