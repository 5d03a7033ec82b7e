// Launches the system Chromium through playwright-core (no browser download).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

/** Starts a headless Chromium with a fresh profile. Returns { context, close }. */
export async function launchBrowser({ colorScheme = 'light', viewport = { width: 1280, height: 820 } } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM} (install the chromium package or set CHROMIUM_BIN)`);
  }
  const userDataDir = mkdtempSync(join(tmpdir(), 'hearth-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    colorScheme,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` until it returns without throwing (and not `false`), or the time runs out. */
export async function eventually(timeoutMs, fn, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const v = await fn();
      if (v !== false) return v;
      lastError = new Error('condition still false');
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const err = new Error(`not true within ${timeoutMs} ms: ${lastError?.message ?? lastError}`);
      err.cause = lastError;
      throw err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
