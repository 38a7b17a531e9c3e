import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { canonicalPathError } from './canonical-path.js';

type FetchHandler = (request: Request) => Response | Promise<Response>;

/**
 * A Node.js request listener for an app (the local server). The path is checked exactly as it came
 * in the request line, before it becomes a URL (which would resolve `..` and `%2e%2e`): a path
 * that is not canonical is refused with 400 before anything else happens.
 */
export function brokerRequestListener(fetch: FetchHandler): (req: IncomingMessage, res: ServerResponse) => void {
  const listener = getRequestListener(fetch);
  return (req, res) => {
    const target = req.url ?? '';
    const query = target.indexOf('?');
    const refused = canonicalPathError(query === -1 ? target : target.slice(0, query));
    if (!refused) return void listener(req, res);
    res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ error: refused.code, error_description: refused.description }));
  };
}
