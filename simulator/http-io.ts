/**
 * Reading requests and writing answers: bounded bodies, strict form parsing (RFC 6749 §3.1, §3.2),
 * JSON, HTML and redirects, all `no-store` where they carry credentials.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidRequest, OAuthError } from './oauth-error.js';

const MAX_BODY_BYTES = 64 * 1024;

export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendOAuthError(res: ServerResponse, err: OAuthError): void {
  sendJson(res, err.status, { error: err.error, error_description: err.description }, { ...NO_STORE, ...err.headers });
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
    ...NO_STORE,
  });
  res.end(html);
}

/** An empty answer: 204 (which carries no Content-Length, RFC 9110 §8.6), or 200 for RFC 7009. */
export function sendEmpty(res: ServerResponse, status: 200 | 204): void {
  res.writeHead(status, status === 204 ? NO_STORE : { 'Content-Length': 0, ...NO_STORE });
  res.end();
}

export function redirect(res: ServerResponse, status: 302 | 303, location: string): void {
  res.writeHead(status, { Location: location, 'Content-Length': 0, ...NO_STORE });
  res.end();
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function errorPage(res: ServerResponse, status: number, message: string): void {
  sendHtml(
    res,
    status,
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>LongPort: authorization error</title></head>` +
      `<body><h1>Authorization error</h1><p>${escapeHtml(message)}</p></body></html>`,
  );
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new OAuthError(413, 'invalid_request', 'request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** RFC 6749 §3.2 and §3.1: form-encoded body, no parameter more than once. */
export function parseForm(req: IncomingMessage, body: string): URLSearchParams {
  if (mediaType(req) !== 'application/x-www-form-urlencoded') {
    throw invalidRequest('content type must be application/x-www-form-urlencoded');
  }
  const params = new URLSearchParams(body);
  rejectDuplicates(params);
  return params;
}

export function rejectDuplicates(params: URLSearchParams): void {
  for (const key of new Set(params.keys())) {
    if (params.getAll(key).length > 1) throw invalidRequest(`parameter ${key} is repeated`);
  }
}

export function bearerToken(req: IncomingMessage): string | null {
  const match = /^Bearer +([^\s]+) *$/i.exec(req.headers.authorization ?? '');
  return match ? match[1]! : null;
}

export function headerValue(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? (v[0] ?? null) : null;
}

/** Destroys the answer and its connection: the caller sees a dropped socket. */
export function dropConnection(req: IncomingMessage, res: ServerResponse): void {
  res.destroy();
  req.socket.destroy();
}

/** True once the caller's connection is gone (it gave up, or its process died). */
export function connectionClosed(req: IncomingMessage, res: ServerResponse): boolean {
  return req.socket.destroyed || res.destroyed;
}
