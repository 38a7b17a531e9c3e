import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { canonicalPathError } from './canonical-path.js';

type FetchHandler = (request: Request) => Response | Promise<Response>;

/**
 * Answers a request before the app when it can answer it exactly as the app would (true), or does
 * nothing at all (false): the request then goes to the app. `path` is the request's path, in
 * canonical form (no percent-encoding: as the app reads it).
 */
export type Lane = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

/**
 * A Node.js request listener for an app (the local server). The path is checked exactly as it came
 * in the request line, before it becomes a URL (which would resolve `..` and `%2e%2e`): a path
 * that is not canonical is refused with 400 before anything else happens. Then a lane, if given,
 * may answer it; anything else goes to the app.
 */
export function brokerRequestListener(fetch: FetchHandler, lane?: Lane): (req: IncomingMessage, res: ServerResponse) => void {
  const listener = getRequestListener(fetch);
  return (req, res) => {
    const target = req.url ?? '';
    const query = target.indexOf('?');
    const path = query === -1 ? target : target.slice(0, query);
    const refused = canonicalPathError(path);
    if (!refused) {
      if (!lane?.(req, res, path)) listener(req, res);
      return;
    }
    res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ error: refused.code, error_description: refused.description }));
  };
}
