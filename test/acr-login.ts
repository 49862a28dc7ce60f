// Drives the sandbox's ACR Connect login as a browser would: fetch the authorize page, read its
// form, POST it with the user's facility, name and password, and return where it redirects (the
// adapter's callback with code and state).
import assert from 'node:assert/strict';

/** The hidden fields and action of the login form on a page. */
export function loginForm(html: string): { action: string; fields: Record<string, string> } {
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  assert.ok(action, 'the page has no login form');
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields[m[1]!] = m[2]!.replace(/&#(\d+);/g, (_x, n: string) => String.fromCharCode(Number(n)));
  }
  return { action, fields };
}

export interface LoginResult {
  /** The login page's HTML as first shown. */
  readonly page: string;
  /** Where the sandbox sent the browser after the POST (the callback URL), or the refusal's status. */
  readonly location: string;
  readonly status: number;
}

export async function driveLogin(authorizeUrl: string, user: { facility: string; username: string; password: string }): Promise<LoginResult> {
  const first = await fetch(authorizeUrl, { redirect: 'manual' });
  const page = await first.text();
  assert.equal(first.status, 200, page);
  const { action, fields } = loginForm(page);
  const post = await fetch(new URL(action, authorizeUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...fields, ...user }).toString(),
  });
  await post.arrayBuffer();
  return { page, location: post.headers.get('location') ?? '', status: post.status };
}
