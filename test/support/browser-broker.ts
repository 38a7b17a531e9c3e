import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { launchChromium } from './chromium.js';
import { adminHeaders, type Harness } from './harness.js';
import { serveHarness } from './http-server.js';

/** What a Chromium test of the link flow works with: one browser per file, a broker served on a real port per test. */
export interface BrowserBroker {
  readonly browser: Browser;
  readonly h: Harness;
  /** `http://localhost:<port>`: another site than the simulator (127.0.0.1). */
  readonly broker: string;
  /** An admin call to the real server, as a tenant backend makes it. */
  admin(method: string, path: string, body?: unknown): Promise<Response>;
}

/** Registers the hooks: Chromium launched once for the file, a fresh broker (harness + real server) for each test. */
export function useBrowserBroker(): BrowserBroker {
  let browser: Browser | undefined;
  let served: Awaited<ReturnType<typeof serveHarness>> | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    served = await serveHarness();
  });
  afterEach(async () => {
    await served?.close();
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is set up in the test hooks`);
    return value;
  };
  return {
    get browser() {
      return ready(browser, 'the browser');
    },
    get h() {
      return ready(served, 'the broker').h;
    },
    get broker() {
      return ready(served, 'the broker').server.url;
    },
    admin(method, path, body) {
      const url = `${ready(served, 'the broker').server.url}${path}`;
      return fetch(url, { method, headers: adminHeaders, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    },
  };
}
