/**
 * Credentials for Node callers: a bearer key (local mode) or SigV4 for API Gateway IAM
 * authorization (AWS), signed with the SDK's own `SignatureV4` for service `execute-api`.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { bearerAuthorizer, type Authorizer } from './http.js';

/** AWS credentials, as the SDK's credential providers answer them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Local mode: `BROKER_ADMIN_TOKEN` or a `BROKER_API_KEYS` key, sent as `Authorization: Bearer`. */
export interface BearerAuth {
  type: 'bearer';
  token: string;
}

/**
 * AWS: the `/v1` routes use API Gateway IAM authorization. Requests are signed with the SDK's own
 * `SignatureV4` for service `execute-api`; without `credentials`, the SDK's default credential chain
 * (`defaultProvider` of @aws-sdk/credential-provider-node: environment, SSO, web identity, ECS/EC2 roles, …) is used.
 */
export interface SigV4Auth {
  type: 'sigv4';
  /** The region of the API Gateway, e.g. `eu-west-1`. */
  region: string;
  credentials?: AwsCredentials | (() => Promise<AwsCredentials>);
}

/** The authorizer for `auth`; SigV4 signs at `clock()` and loads the credential chain on first use. */
export function authorizer(auth: BearerAuth | SigV4Auth, clock: () => number = Date.now): Authorizer {
  if (auth.type === 'bearer') return bearerAuthorizer(auth.token);
  let signer: Promise<SignatureV4> | undefined;
  return async (method, url, headers, body) => {
    signer ??= signerFor(auth).catch((err: unknown) => {
      signer = undefined;
      throw err;
    });
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const signed = await (
      await signer
    ).sign(
      {
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query,
        headers: { ...headers, host: url.host },
        // the payload hash is part of the signature: a body changed on the way fails verification
        ...(body === undefined ? {} : { body }),
      },
      { signingDate: new Date(clock()) },
    );
    // fetch sets Host itself, from the same URL
    const { host: _host, ...out } = signed.headers;
    return out;
  };
}

async function signerFor(auth: SigV4Auth): Promise<SignatureV4> {
  // the default chain is loaded only when it is needed: local-mode callers never import it
  const credentials = auth.credentials ?? (await import('@aws-sdk/credential-provider-node')).defaultProvider();
  return new SignatureV4({ service: 'execute-api', region: auth.region, credentials, sha256: NodeSha256, uriEscapePath: true, applyChecksum: false });
}

/** SHA-256 and HMAC-SHA256 over node:crypto, in the shape the SDK's signer expects (as @smithy/hash-node). */
class NodeSha256 {
  private hash: Hash | Hmac;

  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = this.fresh();
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }

  reset(): void {
    this.hash = this.fresh();
  }

  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): Buffer | string {
  if (typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/**
 * The region of an execute-api URL (`https://abc123.execute-api.eu-west-1.amazonaws.com/prod`), or
 * undefined for any other host (a custom domain: the caller must say the region).
 */
export function regionOfApiUrl(url: string | URL): string | undefined {
  const host = new URL(url).hostname;
  return /^[a-z0-9]+\.execute-api\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$/.exec(host)?.[1];
}
