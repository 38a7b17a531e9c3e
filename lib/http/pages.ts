import type { BrokerError } from '../errors.js';

/** The few HTML pages the end user's browser sees. Every dynamic value is escaped. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** A link the page offers (the same link URL again, after a failure that may pass). */
export interface PageAction {
  href: string;
  label: string;
}

export function page(title: string, message: string, tone: 'ok' | 'error', action?: PageAction): string {
  const colour = tone === 'ok' ? '#0a7f3f' : '#b42318';
  const next = action ? `<p><a href="${escapeHtml(action.href)}">${escapeHtml(action.label)}</a></p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1d2939}h1{color:${colour};font-size:1.4rem}</style>
</head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${next}</body></html>`;
}

/** The flow's own refusals, whose descriptions are written for the end user (`lib/broker/linking*.ts`). */
const FLOW_CODES = new Set(['invalid_link', 'invalid_state', 'access_denied', 'invalid_request']);

/**
 * What the end user reads of a failure: the flow's own words for its own refusals, and for anything
 * else a fixed sentence by kind. A page never shows a description made elsewhere (it may name
 * internals) nor anything the request supplied.
 */
export function failureMessage(e: BrokerError): string {
  /* Precondition: error pages never echo request-supplied names or values. */
  if (e.status === 503) return 'LongPort or the broker could not be reached just now, so nothing was linked. Try again in a moment.';
  if (e.status >= 500) return 'Something went wrong between the broker and LongPort, so nothing was linked. Try a new link later; if it happens again, tell the service that sent you here.';
  if (FLOW_CODES.has(e.code)) return e.description;
  return 'This link can no longer be completed. Ask for a new link.';
}

/**
 * Headers for every browser page of the flow: nothing cached, nothing framed, no script, and no
 * Referer — the callback URL carries the authorization code and must not leak to other sites.
 */
export const BROWSER_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
};
