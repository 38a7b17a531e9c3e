/**
 * One LongPort OpenAPI call, `get_security_list`, so a test can prove an access token works:
 * 401 `{code: 401003}` once it expired by the injected clock, `{code: 401004}` when unknown or revoked.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimulatorContext } from './context.js';
import { bearerToken, sendJson } from './http-io.js';

const SECURITY_LIST = [
  { symbol: 'AAPL.US', name_cn: '苹果', name_hk: '蘋果', name_en: 'Apple Inc.' },
  { symbol: 'MSFT.US', name_cn: '微软', name_hk: '微軟', name_en: 'Microsoft Corporation' },
  { symbol: 'TSLA.US', name_cn: '特斯拉', name_hk: '特斯拉', name_en: 'Tesla, Inc.' },
];

export function securityList(ctx: SimulatorContext, req: IncomingMessage, res: ServerResponse): void {
  ctx.stats.apiCalls += 1;
  const token = bearerToken(req);
  const rec = token !== null ? ctx.state.accessTokens.get(token) : undefined;
  if (!rec || rec.revoked) return sendJson(res, 401, { code: 401004, message: 'invalid token' });
  if (rec.expiresAt <= ctx.clock()) return sendJson(res, 401, { code: 401003, message: 'token expired' });
  sendJson(res, 200, { code: 0, message: 'success', data: { list: SECURITY_LIST } });
}
