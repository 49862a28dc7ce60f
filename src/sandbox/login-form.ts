// The sandbox's ACR Connect login driven as a browser would: the authorize page fetched, its form
// read (the hidden fields and the action), posted back with the user's facility, name and
// password, and where it sends the browser returned (the client's callback with code and state).
// What certify's rehearsal signs in with, and what the sign-in tests drive.

/** An HTML attribute's value as the page escaped it (`&#39;`, `&amp;`…), read back. */
const unescapeAttribute = (s: string): string => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&');

/** The action and hidden fields of the login form on a page; undefined when it has none. */
export function loginForm(html: string): { action: string; fields: Record<string, string> } | undefined {
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  if (action === undefined) return undefined;
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]!] = unescapeAttribute(m[2]!);
  return { action: unescapeAttribute(action), fields };
}

export interface LoginResult {
  /** The login page's HTML as first shown, and its status. */
  readonly page: string;
  readonly pageStatus: number;
  /** false: the page had no login form (nothing was posted). */
  readonly form: boolean;
  /** Where the sandbox sent the browser after the POST (the callback URL; '' when it did not), and the POST's status. */
  readonly location: string;
  readonly status: number;
}

export async function submitLogin(authorizeUrl: string, user: { facility: string; username: string; password: string }): Promise<LoginResult> {
  const first = await fetch(authorizeUrl, { redirect: 'manual' });
  const page = await first.text();
  const form = first.status === 200 ? loginForm(page) : undefined;
  if (!form) return { page, pageStatus: first.status, form: false, location: '', status: 0 };
  const post = await fetch(new URL(form.action, authorizeUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form.fields, ...user }).toString(),
  });
  await post.arrayBuffer();
  return { page, pageStatus: first.status, form: true, location: post.headers.get('location') ?? '', status: post.status };
}
