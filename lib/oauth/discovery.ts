import * as oauth from 'oauth4webapi';
import { BrokerError, toBrokerError } from '../errors.js';
import { rejectTransientStatus, requestOptions, type UpstreamHttp } from './upstream.js';

/** The parts of RFC 8414 metadata the broker relies on. */
export type ServerMetadata = oauth.AuthorizationServer;

/**
 * Authorization server metadata (RFC 8414), cached per issuer. Every endpoint the broker calls
 * comes from here; nothing is hard-coded. A document is fetched again when it is older than
 * `maxAgeMs`, or after an endpoint of it failed (`invalidate`).
 */
export class DiscoveryCache {
  private readonly entries = new Map<string, { metadata: Promise<ServerMetadata>; fetchedAt: number }>();

  constructor(
    private readonly http: UpstreamHttp,
    private readonly clock: () => number = Date.now,
    private readonly maxAgeMs = 60 * 60 * 1000,
  ) {}

  async get(issuer: string): Promise<ServerMetadata> {
    const now = this.clock();
    const hit = this.entries.get(issuer);
    if (hit && now - hit.fetchedAt < this.maxAgeMs) return hit.metadata;
    // concurrent callers share one request; a failed request is not cached
    const metadata = discover(this.http, issuer);
    this.entries.set(issuer, { metadata, fetchedAt: now });
    metadata.catch(() => {
      if (this.entries.get(issuer)?.metadata === metadata) this.entries.delete(issuer);
    });
    return metadata;
  }

  /** Forget a document after one of its endpoints failed, so the next call rediscovers. */
  invalidate(issuer: string): void {
    this.entries.delete(issuer);
  }
}

/** RFC 8414 §3: fetch and validate the metadata of `issuer`. */
export async function discover(http: UpstreamHttp, issuer: string): Promise<ServerMetadata> {
  const issuerUrl = new URL(issuer);
  let metadata: ServerMetadata;
  try {
    const response = await oauth.discoveryRequest(issuerUrl, { algorithm: 'oauth2', ...requestOptions(http, issuer) });
    rejectTransientStatus(response, 'discovery');
    await checkIssuer(response, issuer);
    metadata = await oauth.processDiscoveryResponse(issuerUrl, response);
  } catch (err) {
    throw toBrokerError(err, 'discovery');
  }
  // RFC 8414 §3.3: the document speaks for exactly the configured issuer
  if (!metadata.authorization_endpoint || !metadata.token_endpoint) {
    throw new BrokerError('invalid_server_metadata', 502, `the discovery document of ${issuer} names no authorization_endpoint or token_endpoint`);
  }
  // PKCE S256 is mandatory: a server that does not list it is refused (RFC 7636, RFC 9700 §2.1.1)
  if (!metadata.code_challenge_methods_supported?.includes('S256')) {
    throw new BrokerError('invalid_server_metadata', 502, `the authorization server ${issuer} does not list S256 in code_challenge_methods_supported; the broker requires PKCE S256`);
  }
  return metadata;
}

/** Refuses a document for another issuer, naming both values so the operator can fix the configuration. */
async function checkIssuer(response: Response, expected: string): Promise<void> {
  if (!response.ok) return; // the library reports the status
  let claimed: unknown;
  try {
    claimed = ((await response.clone().json()) as { issuer?: unknown }).issuer;
  } catch {
    return; // the library reports the malformed body
  }
  if (claimed !== expected) {
    throw new BrokerError(
      'invalid_issuer',
      502,
      `the discovery document at ${expected} claims issuer "${String(claimed)}", which differs from the configured issuer "${expected}"; set the configured issuer to the value the server claims if you trust it`,
    );
  }
}
