// Headless Chromium for the console's browser tests: Debian's chromium driven by playwright-core,
// every request off loopback refused and counted, console errors, page errors and 5xx answers
// collected for the test to assert none; with CDSR_SCREENSHOTS=1 (`npm run screenshots`) the
// pictures of docs/console.md taken by `shot`.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { REPO_ROOT } from './helpers.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install -y chromium; .ci/run installs it)`;
}

/** Skips the test (saying why) when Chromium is not installed; true when it did. */
export function skipWithoutChromium(t: TestContext): boolean {
  const reason = chromiumMissing();
  if (reason === undefined) return false;
  console.log(`# skipped: ${reason}`);
  t.skip(reason);
  return true;
}

export interface LoopbackBrowser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Every host a request was made to (only 127.0.0.1 is let through). */
  readonly hosts: Set<string>;
  /** Console errors, page errors and 5xx answers, in order. */
  readonly errors: string[];
}

/** A persistent context in `profile` (a temporary folder of the test's) that reaches loopback only. */
export async function openLoopbackBrowser(profile: string): Promise<LoopbackBrowser> {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
  });
  // a busy machine is slower, never wrong: waits are bounded by the test's own timeout, not 30 s
  context.setDefaultTimeout(120_000);
  context.setDefaultNavigationTimeout(120_000);
  const hosts = new Set<string>();
  await context.route('**/*', async (route) => {
    const host = new URL(route.request().url()).hostname;
    hosts.add(host);
    if (host === '127.0.0.1') await route.continue();
    else await route.abort();
  });
  const errors: string[] = [];
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('response', (r) => {
    if (r.status() >= 500) errors.push(`${r.status()} ${r.url()}`);
  });
  return { context, page, hosts, errors };
}

/**
 * Signs in to the console at `url` with the keyboard only. Typing waits until the key field holds
 * the focus (its `autofocus`): on a busy machine Chromium may report the page loaded before the
 * focus lands, and keys typed before then go nowhere.
 */
export async function signInByKeyboard(page: Page, url: string, key: string): Promise<void> {
  await page.goto(`${url}/ui`);
  const path = new URL(page.url()).pathname;
  if (path !== '/ui/login') throw new Error(`expected the sign-in page, got ${path}`);
  await page.waitForFunction("document.activeElement !== null && document.activeElement.id === 'key'");
  await page.keyboard.type(key);
  await Promise.all([page.waitForURL(`${url}/ui`), page.keyboard.press('Enter')]);
}

/** Where `shot` saves its pictures: the docs folder, read by docs/console.md and the README. */
export const SCREENSHOT_DIR = join(REPO_ROOT, 'docs');

/**
 * With CDSR_SCREENSHOTS=1 (`npm run screenshots`), saves docs/console-{name}.png: the whole page,
 * or only `element`; otherwise does nothing, so a plain test run writes nothing into the repository.
 * The test's temporary mappings folder (#tables-dir) is masked: the picture is the same at every run.
 */
export async function shot(page: Page, name: string, element?: Locator): Promise<void> {
  if (process.env['CDSR_SCREENSHOTS'] !== '1') return;
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const options = { path: join(SCREENSHOT_DIR, `console-${name}.png`), mask: [page.locator('#tables-dir')], maskColor: '#d0d7de' };
  if (element) await element.screenshot(options);
  else await page.screenshot({ ...options, fullPage: true });
}
