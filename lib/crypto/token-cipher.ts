import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { BrokerError } from '../errors.js';
import { DataKeyCache } from './data-key-cache.js';

/**
 * Envelope encryption of token material. Each sealed value gets a fresh 256-bit data key from a
 * {@link DataKeyProvider} (KMS in AWS, the local key file in local mode), is encrypted with
 * AES-256-GCM, and is bound to its {@link EncryptionContext} twice: by the provider (KMS
 * encryption context / AAD of the wrapped key) and as the AAD of the payload itself.
 * A ciphertext copied to another tenant's or account's item therefore fails to open.
 *
 * One open costs one provider call (Decrypt): a whole token set is sealed together, never field by
 * field. A seal costs one (GenerateDataKey), or none when it follows the open of the same context's
 * previous value: the data key of that value is reused within the bounds of {@link DataKeyCache}
 * (a refresh opens the old set and seals the new one: one KMS call in all).
 *
 * Envelopes: `v2.<kind>.<wrapped key>.<seals>.<born>.<iv>.<body>`, where `seals` counts the values
 * sealed under that data key and `born` is when it was made (epoch s); both are authenticated with
 * the context as the payload's AAD. `v1.<kind>.<wrapped key>.<iv>.<body>` (no counters) still opens;
 * its data key is never reused.
 */
export type Purpose = 'account-tokens' | 'tenant-client';

export interface EncryptionContext {
  tenant: string;
  /** The account id, or {@link TENANT_SCOPE} for tenant-level secrets. */
  account: string;
  purpose: Purpose;
}

/** Account slot of tenant-level secrets; `_` can never start an account id, so it cannot collide. */
export const TENANT_SCOPE = '_tenant';

export interface DataKey {
  plaintext: Uint8Array;
  encrypted: Uint8Array;
}

export interface DataKeyProvider {
  /** Short tag written into the sealed value so a value is opened by the provider that made it. */
  readonly kind: 'kms' | 'local';
  generateDataKey(context: EncryptionContext): Promise<DataKey>;
  decryptDataKey(encrypted: Uint8Array, context: EncryptionContext): Promise<Uint8Array>;
}

export interface TokenCipher {
  seal(value: unknown, context: EncryptionContext): Promise<string>;
  open<T>(sealed: string, context: EncryptionContext): Promise<T>;
}

/** Canonical bytes of a context: fixed key order, so AAD never depends on object construction. */
export function contextAad(context: EncryptionContext): Buffer {
  return Buffer.from(JSON.stringify([context.tenant, context.account, context.purpose]), 'utf8');
}

/** The payload's AAD: the context, and in a v2 envelope the data key's counters. */
function payloadAad(context: EncryptionContext, counters?: { seals: number; bornAtS: number }): Buffer {
  if (!counters) return contextAad(context);
  return Buffer.from(JSON.stringify([context.tenant, context.account, context.purpose, 'v2', counters.seals, counters.bornAtS]), 'utf8');
}

interface Envelope {
  edk: string;
  iv: string;
  body: string;
  counters?: { seals: number; bornAtS: number };
}

const COUNTER = /^\d{1,12}$/;

function parseEnvelope(sealed: string, kind: DataKeyProvider['kind'], context: EncryptionContext): Envelope {
  const parts = sealed.split('.');
  // a sealed value is opened only by the provider kind that sealed it
  if (parts[1] !== kind) throw integrityError(context, 'unrecognised envelope');
  if (parts.length === 5 && parts[0] === 'v1') return { edk: parts[2]!, iv: parts[3]!, body: parts[4]! };
  if (parts.length === 7 && parts[0] === 'v2' && COUNTER.test(parts[3]!) && COUNTER.test(parts[4]!)) {
    return { edk: parts[2]!, iv: parts[5]!, body: parts[6]!, counters: { seals: Number(parts[3]), bornAtS: Number(parts[4]) } };
  }
  throw integrityError(context, 'unrecognised envelope');
}

export function createTokenCipher(provider: DataKeyProvider, options: { dataKeys?: DataKeyCache; clock?: () => number } = {}): TokenCipher {
  const dataKeys = options.dataKeys ?? new DataKeyCache();
  const clock = options.clock ?? Date.now;
  return {
    async seal(value, context) {
      const nowS = Math.floor(clock() / 1000);
      // the data key of the value just opened under this context seals its successor, within bounds;
      // the data key of one context never seals another context's value (the cache is keyed by context)
      const reused = dataKeys.takeForSeal(contextAad(context).toString('utf8'), nowS);
      const key = reused ?? { ...(await provider.generateDataKey(context)), seals: 1, bornAtS: nowS };
      try {
        const iv = randomBytes(12);
        const counters = { seals: key.seals, bornAtS: key.bornAtS };
        const cipher = createCipheriv('aes-256-gcm', key.plaintext, iv);
        cipher.setAAD(payloadAad(context, counters));
        const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final(), cipher.getAuthTag()]);
        return ['v2', provider.kind, b64(key.encrypted), String(counters.seals), String(counters.bornAtS), b64(iv), b64(body)].join('.');
      } finally {
        // a new data key is zeroed after use; a reused one stays in (and is zeroed by) the cache
        if (!reused) key.plaintext.fill(0);
      }
    },

    async open<T>(sealed: string, context: EncryptionContext): Promise<T> {
      const envelope = parseEnvelope(sealed, provider.kind, context);
      const encrypted = unb64(envelope.edk);
      const dataKey = await provider.decryptDataKey(encrypted, context);
      let kept = false;
      try {
        const raw = unb64(envelope.body);
        if (raw.length < 16) throw integrityError(context, 'truncated ciphertext');
        const decipher = createDecipheriv('aes-256-gcm', dataKey, unb64(envelope.iv));
        decipher.setAAD(payloadAad(context, envelope.counters));
        decipher.setAuthTag(raw.subarray(raw.length - 16));
        const plain = Buffer.concat([decipher.update(raw.subarray(0, raw.length - 16)), decipher.final()]);
        const value = JSON.parse(plain.toString('utf8')) as T;
        if (envelope.counters) {
          dataKeys.put(contextAad(context).toString('utf8'), { plaintext: dataKey, encrypted, ...envelope.counters });
          kept = true;
        }
        return value;
      } catch (err) {
        if (err instanceof BrokerError) throw err;
        throw integrityError(context, 'authentication failed', err);
      } finally {
        // a data key that is not kept for the next seal is zeroed after use
        if (!kept) dataKey.fill(0);
      }
    },
  };
}

/** Fails closed: a value that does not open under its context is never served. */
export function integrityError(context: EncryptionContext, why: string, cause?: unknown): BrokerError {
  return new BrokerError(
    'server_error',
    500,
    `stored credentials of ${context.tenant}/${context.account} failed an integrity check`,
    { cause: cause ?? new Error(`sealed value rejected: ${why}`) },
  );
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const unb64 = (s: string) => Buffer.from(s, 'base64url');
