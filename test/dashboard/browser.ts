/**
 * A real browser for dashboard tests: a system Chromium (found, or installed from Debian's
 * packages, by the global setup in chromium-setup.ts) driven by playwright-core. Screenshots go to
 * `test-results/screenshots/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createRequire } from 'node:module';
import { inject } from 'vitest';
import { ROOT } from '../helpers.js';

const AXE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** The Chromium that chromium-setup.ts found or installed. */
export const CHROMIUM_PATH = inject('chromiumPath');
/** Where screenshots are saved (a CI artifact). */
export const SCREENSHOT_DIR = path.join(ROOT, 'test-results', 'screenshots');

/** Launch headless Chromium; a clear error when it is missing. */
export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install it with "apt-get install -y chromium"`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** A fresh context (no cookies) and page at a desktop width. */
export async function newPage(browser: Browser, viewport = { width: 1280, height: 860 }, options: { bypassCSP?: boolean } = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, reducedMotion: 'reduce', ...options });
  const page = await context.newPage();
  return { context, page };
}

/** Save a full-page screenshot as `test-results/screenshots/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Sign in through the form with an API key. */
export async function signIn(page: Page, baseUrl: string, apiKey: string): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.getByLabel('API key').fill(apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * Run axe-core (WCAG 2 A/AA rules) on the page as it stands; returns "rule: target" for each
 * serious or critical violation. The page's context must bypass CSP to load the checker.
 */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE_PATH });
  const results = await page.evaluate<Array<{ id: string; impact: string | null; nodes: Array<{ target: unknown[] }> }>>(
    "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then(r => r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => ({ target: n.target })) })))",
  );
  return results
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
}
