import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regionOf, smokeChecks } from '../../bin/smoke.js';

/**
 * A stand-in for a deployed broker behind API Gateway: the probes answer, a /v1 request without a
 * SigV4 signature for execute-api in eu-west-1 is refused with 403 (as API Gateway's IAM
 * authorizer does), a signed one reaches "the broker", which knows no such tenant (404).
 */
let server: Server;
let url: string;
let broken = false;
let saved: { id: string | undefined; secret: string | undefined };
const seen: string[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    const auth = String(req.headers.authorization ?? '');
    seen.push(auth);
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/healthz') return json(200, { ok: !broken });
    if (req.url === '/openapi.json') return json(200, { openapi: '3.1.0', paths: { '/healthz': {} } });
    if (!/^AWS4-HMAC-SHA256 Credential=AKIDSMOKE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/.test(auth)) {
      return json(403, { message: 'Forbidden' });
    }
    return json(404, { error: 'not_found', error_description: 'unknown tenant' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = 'AKIDSMOKE';
  process.env.AWS_SECRET_ACCESS_KEY = 'smoke-secret';
});
afterAll(async () => {
  for (const [k, v] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const run = async () => {
  const out: [string, string][] = [];
  for (const c of smokeChecks({ url, region: 'eu-west-1', tenant: 'smoke-test', account: 'smoke' })) {
    out.push([c.name, await c.run().then((r) => `ok ${r}`, (e: Error) => `FAIL ${e.message}`)]);
  }
  return out;
};

describe('npm run smoke', () => {
  it('passes against a broker that answers its probes and enforces IAM, with a request signed by the default credential chain', async () => {
    broken = false;
    const results = await run();
    expect(results.map(([, r]) => r.split(' ')[0])).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(results[3]![1]).toContain('404 not_found (signature accepted');
    expect(seen.some((a) => a.startsWith('AWS4-HMAC-SHA256 Credential=AKIDSMOKE/'))).toBe(true);
  });

  it('fails the health check when /healthz does not answer {"ok":true}', async () => {
    broken = true;
    const results = await run();
    expect(results[0]![1]).toMatch(/^FAIL expected 200 \{"ok":true\}/);
    broken = false;
  });

  it('fails when a signed request is refused (wrong region: the signature does not match)', async () => {
    const [, , , signed] = smokeChecks({ url, region: 'us-east-1', tenant: 'smoke-test', account: 'smoke' });
    await expect(signed!.run()).rejects.toThrow(/403 .*grant them/);
  });

  it('reads the region from an execute-api URL', () => {
    expect(regionOf(new URL('https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com'))).toBe('eu-west-1');
    expect(regionOf(new URL('https://a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn'))).toBe('cn-north-1');
    expect(regionOf(new URL('https://broker.example.com'))).toBeUndefined();
  });
});
