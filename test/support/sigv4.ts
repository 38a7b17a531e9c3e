import { createHash, createHmac } from 'node:crypto';

/** A signed request as it arrived, for {@link expectedSignature}. */
export interface SignedRequest {
  method: string;
  url: URL;
  /** Lower-case names. */
  headers: Record<string, string>;
  body?: string;
}

/**
 * AWS Signature Version 4, computed independently of the SDK
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html), for service execute-api.
 */
export function expectedSignature(request: SignedRequest, signedHeaders: string[], secret: string, region: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
  const hmac = (key: string | Buffer, s: string) => createHmac('sha256', key).update(s).digest();
  const amzDate = request.headers['x-amz-date']!;
  const day = amzDate.slice(0, 8);
  const headerValue = (name: string) => (name === 'host' ? request.url.host : request.headers[name]!).trim().replace(/\s+/g, ' ');
  const canonicalRequest = [
    request.method,
    // every service but S3: each path segment URI-encoded twice
    request.url.pathname.split('/').map(enc).join('/'),
    [...request.url.searchParams].map(([k, v]) => `${enc(k)}=${enc(v)}`).sort().join('&'),
    signedHeaders.map((h) => `${h}:${headerValue(h)}\n`).join(''),
    signedHeaders.join(';'),
    sha256(request.body ?? ''),
  ].join('\n');
  const scope = `${day}/${region}/execute-api/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), 'execute-api'), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}
