// HTML for the console, written by hand: every value goes through `esc` (the pages show patient
// data to operators and must never let it run as markup), one layout with the navigation.
import { localTime } from '../../cdsr/formats.js';

/** Escapes text for HTML content and double-quoted attribute values. */
export function esc(value: string | number | boolean | null | undefined): string {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Markup built by these helpers (already escaped). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** A template tag: interpolated values are escaped unless they are Html (or arrays of it). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

function render(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === undefined || v === null || v === false) return '';
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return esc(v);
  // an object in a page is a mistake of ours: shown as JSON, escaped, never as markup
  return esc(JSON.stringify(v));
}

export const NAV = [
  ['/ui', 'Overview'],
  ['/ui/worklist', 'Worklist'],
  ['/ui/messages', 'Messages'],
  ['/ui/orders', 'Orders'],
  ['/ui/reprocess', 'Reprocess'],
  ['/ui/records', 'Records'],
  ['/ui/transactions', 'Transactions'],
  ['/ui/bench', 'Test bench'],
] as const;

export interface PageContext {
  /** The CSRF token every form that posts carries. */
  readonly csrf: string;
  /** Who is signed in (the key's label), '' when the adapter has no keys. */
  readonly who: string;
  /** A facility's time zone (facilities.csv, else CDSR_TIMEZONE; '' gives the latter); UTC when not given. */
  readonly zoneOf?: (facilityId: string) => string;
  /** The connection profile in force, shown in every page's header. */
  readonly profile?: { readonly name: string; readonly deidentified: boolean };
}

/** The zone times are shown in: the facility's, else the adapter's (CDSR_TIMEZONE). */
export const zoneIn = (ctx: Pick<PageContext, 'zoneOf'>, facilityId = ''): string => ctx.zoneOf?.(facilityId) ?? 'UTC';

export function layout(title: string, current: string, ctx: PageContext, body: Html): string {
  return `<!doctype html>\n${
    html`<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · cdsr-adapter</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/assets/console.css"><script src="/ui/assets/console.js" defer></script></head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><span class="brand">cdsr-adapter</span>${ctx.profile ? html`<span class="profile profile-${ctx.profile.name}" title="the connection profile: which NRDR environment this adapter sends to">profile: <strong>${ctx.profile.name}</strong>${ctx.profile.deidentified ? ' (de-identified)' : ''}</span>` : ''}<nav aria-label="Console">${NAV.map(([href, label]) => html`<a href="${href}"${href === current ? new Html(' aria-current="page"') : ''}>${label}</a>`)}</nav>
${ctx.who !== '' ? html`<form method="post" action="/ui/logout" class="logout">${csrfField(ctx)}<span>${ctx.who}</span> <button type="submit">Sign out</button></form>` : ''}</header>
<main id="main" tabindex="-1"><h1>${title}</h1>
${body}
</main>
</body></html>`.text
  }\n`;
}

export function csrfField(ctx: PageContext): Html {
  return html`<input type="hidden" name="csrf" value="${ctx.csrf}">`;
}

/** A table with a header row; cells are Html or text. */
export function table(head: readonly string[], rows: readonly (readonly unknown[])[], opts: { empty?: string; caption?: string; id?: string } = {}): Html {
  if (rows.length === 0) return html`<p class="empty">${opts.empty ?? 'Nothing to show.'}</p>`;
  return html`<table${opts.id ? new Html(` id="${esc(opts.id)}"`) : ''}>${opts.caption ? html`<caption>${opts.caption}</caption>` : ''}<thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
<tbody>${rows.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>\n`)}</tbody></table>`;
}

/**
 * An ISO instant for tables: the local time of `zone` with the zone's name (sites think in their own
 * time), UTC on hover (title) and in the `datetime` attribute. Anything else is shown as it is.
 */
export function when(iso: string, zone = 'UTC'): Html {
  const at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(iso) ? new Date(iso) : undefined;
  if (!at || Number.isNaN(at.getTime())) return html`${iso}`;
  const utc = `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
  return html`<time datetime="${iso}" title="${utc}">${localTime(at, zone)}</time>`;
}

export function link(href: string, text: unknown): Html {
  return html`<a href="${href}">${text}</a>`;
}

/** A query string from the non-empty parameters. */
export function qs(params: Readonly<Record<string, string | number | undefined>>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s === '' ? '' : `?${s}`;
}

export function problemList(
  problems: readonly {
    code: string;
    message: string;
    field?: string;
    source?: string;
    file?: string;
    line?: number;
    order?: { readonly place: number; readonly numbers: readonly string[] };
  }[],
): Html {
  if (problems.length === 0) return html`<p class="empty">No problems.</p>`;
  // a message of several orders: which order (OBR) each problem is about
  const orders = problems.some((p) => p.order !== undefined);
  return table(
    ['Code', 'Field', 'Source', 'Where', ...(orders ? ['Order'] : []), 'Message'],
    problems.map((p) => [
      html`<code>${p.code}</code>`,
      p.field ?? '',
      p.source ?? '',
      p.file !== undefined ? `${p.file}${p.line !== undefined ? `:${p.line}` : ''}` : '',
      ...(orders ? [p.order ? `${p.order.place}: ${p.order.numbers.join(' / ') || '(no number)'}` : ''] : []),
      p.message,
    ]),
  );
}

/** A value the tables guessed: a label in words and the reason in text (never colour alone). */
export function guessMark(guess: string | undefined): Html {
  return guess === undefined ? html`` : html` <span class="guess">guess</span> <small class="guess-why">${guess}</small>`;
}
