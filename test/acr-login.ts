// Drives the sandbox's ACR Connect login as a browser would (src/sandbox/login-form.ts), for the
// sign-in tests: a page without a login form, or one not shown, fails the test.
import assert from 'node:assert/strict';
import { loginForm as readLoginForm, submitLogin } from '../src/sandbox/login-form.js';

/** The hidden fields and action of the login form on a page. */
export function loginForm(html: string): { action: string; fields: Record<string, string> } {
  const form = readLoginForm(html);
  assert.ok(form, 'the page has no login form');
  return form;
}

export interface LoginResult {
  /** The login page's HTML as first shown. */
  readonly page: string;
  /** Where the sandbox sent the browser after the POST (the callback URL), or the refusal's status. */
  readonly location: string;
  readonly status: number;
}

export async function driveLogin(authorizeUrl: string, user: { facility: string; username: string; password: string }): Promise<LoginResult> {
  const r = await submitLogin(authorizeUrl, user);
  assert.equal(r.pageStatus, 200, r.page);
  assert.ok(r.form, 'the page has no login form');
  return { page: r.page, location: r.location, status: r.status };
}
