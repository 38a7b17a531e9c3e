/**
 * Serves the operator console (CONTRACT.md, "Operator console"): one HTML page, one script, one
 * stylesheet, all from the broker's own origin under a strict Content-Security-Policy.
 *
 * The bundle is built in memory by esbuild the first time it is asked for, once per process: no
 * generated file to commit or to forget to rebuild, `npm start` stays one command, and a build
 * takes a fraction of a second. Nothing here depends on `lib/`: the local server mounts
 * {@link consoleRoutes} and `npm run console` does the same in front of its signing proxy.
 */
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';

/** How the console authenticates its API calls. */
export type ConsoleMode =
  /** Local mode: the operator pastes the admin token or an admin key; it stays in the tab. */
  | 'bearer'
  /** Behind `npm run console`: the loopback server signs every call (SigV4); the page holds no credential. */
  | 'proxy';

export interface ConsoleAssets {
  html: string;
  js: string;
  css: string;
  /** The Content-Security-Policy to send with the page. */
  csp: string;
}

export interface ConsoleOptions {
  mode?: ConsoleMode;
  /** Where the console is mounted; default `/console`. */
  basePath?: string;
}

/**
 * The page loads nothing from outside the broker: no inline script or style, scripts, styles and
 * API calls from the page's own origin only, never framed.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const APP_ENTRY = fileURLToPath(new URL('./app/main.tsx', import.meta.url));
const STYLES_ENTRY = fileURLToPath(new URL('./app/styles.css', import.meta.url));

let bundle: Promise<{ js: string; css: string }> | undefined;

/** The console's page, script and stylesheet; the bundle is built on the first call and kept. */
export async function consoleAssets(options: ConsoleOptions = {}): Promise<ConsoleAssets> {
  bundle ??= buildBundle().catch((err: unknown) => {
    bundle = undefined;
    throw err;
  });
  const { js, css } = await bundle;
  return { html: consolePage(options), js, css, csp: CONSOLE_CSP };
}

async function buildBundle(): Promise<{ js: string; css: string }> {
  // esbuild is a build tool: loaded only when a console is served
  const { build } = await import('esbuild');
  const out = await build({
    entryPoints: { app: APP_ENTRY, styles: STYLES_ENTRY },
    bundle: true,
    write: false,
    outdir: 'out',
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const file = (ext: string) => out.outputFiles.filter((f) => f.path.endsWith(ext)).map((f) => f.text).join('\n');
  return { js: file('.js'), css: file('.css') };
}

/** The page: a mount point, the script and the stylesheet; the mode travels in a meta element, never in a URL. */
function consolePage({ mode = 'bearer', basePath = '/console' }: ConsoleOptions): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="lpb-console-mode" content="${mode}">
<title>Token broker console</title>
<link rel="stylesheet" href="${basePath}/app.css">
<script type="module" src="${basePath}/app.js"></script>
</head>
<body>
<div id="app"><noscript>The console needs JavaScript.</noscript></div>
</body>
</html>
`;
}

const securityHeaders = (csp: string) => ({
  'content-security-policy': csp,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
});

/**
 * A Hono app serving `GET {basePath}`, `{basePath}/app.js` and `{basePath}/app.css`. Mount it with
 * `app.route('/', consoleRoutes())` on any Hono app, or call its `fetch` directly.
 */
export function consoleRoutes(options: ConsoleOptions = {}): Hono {
  const basePath = options.basePath ?? '/console';
  const app = new Hono();
  const asset = (pick: (a: ConsoleAssets) => string, type: string) => async () => {
    const assets = await consoleAssets({ ...options, basePath });
    return new Response(pick(assets), { headers: { 'content-type': type, ...securityHeaders(assets.csp) } });
  };
  app.get(basePath, asset((a) => a.html, 'text/html; charset=utf-8'));
  app.get(`${basePath}/`, (c) => c.redirect(basePath, 308));
  app.get(`${basePath}/app.js`, asset((a) => a.js, 'text/javascript; charset=utf-8'));
  app.get(`${basePath}/app.css`, asset((a) => a.css, 'text/css; charset=utf-8'));
  return app;
}
