import * as oauth from 'oauth4webapi';
import { describe, expect, it } from 'vitest';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { BrokerError, toBrokerError } from '../lib/errors.js';
import { insecureAllowedFor, parseRetryAfter, requestOptions } from '../lib/oauth/upstream.js';

const http = { fetch: globalThis.fetch, timeoutMs: 1000 };

describe('upstream HTTP rules', () => {
  it('plain http is allowed only when the configured issuer itself is a loopback http URL', () => {
    expect(insecureAllowedFor('http://127.0.0.1:9000')).toBe(true);
    expect(insecureAllowedFor('http://localhost:9000')).toBe(true);
    expect(insecureAllowedFor('https://openapi.longportapp.com')).toBe(false);
    expect(insecureAllowedFor('http://openapi.longportapp.com')).toBe(false);
    // an https issuer never gets the library's permission for http endpoints (e.g. the Lambda runtime API)
    expect(oauth.allowInsecureRequests in requestOptions(http, 'https://openapi.longportapp.com')).toBe(false);
    expect(oauth.allowInsecureRequests in requestOptions(http, 'http://127.0.0.1:9000')).toBe(true);
  });

  it('Retry-After is read as seconds or an HTTP date, and bounded to an hour', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7);
    expect(parseRetryAfter('Wed, 25 Nov 2026 12:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('999999', now)).toBe(3600);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('failures are classified: network and time-outs are transient, anything else is not', () => {
    const timeout = Object.assign(new Error('timed out'), { name: 'TimeoutError' });
    const network = new TypeError('fetch failed');

    expect(toBrokerError(timeout, 'refresh').code).toBe('upstream_unavailable');
    expect(toBrokerError(network, 'refresh').code).toBe('upstream_unavailable');
    expect(toBrokerError(new Error('boom'), 'refresh').code).toBe('server_error');
  });

  it('AWS throttling becomes 503 temporarily_unavailable with Retry-After, never a 500', () => {
    const throttled = new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });

    const e = toBrokerError(throttled);

    expect(e).toBeInstanceOf(BrokerError);
    expect(e.status).toBe(503);
    expect(e.code).toBe('temporarily_unavailable');
    expect(e.retryAfterS).toBe(1);
    expect(toBrokerError(new Error('other')).status).toBe(500);
  });
});
