import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium; playwright-core drives it without downloading a browser of its own. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Quiet, offline headless Chromium: no sandbox (containers), no GPU, no QUIC, no background traffic. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Launches one headless Chromium; each test then opens its own fresh context (its own cookie jar). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}
