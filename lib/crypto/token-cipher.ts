import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { BrokerError } from '../errors.js';

/**
 * Envelope encryption of token material. Each sealed value gets a fresh 256-bit data key from a
 * {@link DataKeyProvider} (KMS in AWS, the local key file in local mode), is encrypted with
 * AES-256-GCM, and is bound to its {@link EncryptionContext} twice: by the provider (KMS
 * encryption context / AAD of the wrapped key) and as the AAD of the payload itself.
 * A ciphertext copied to another tenant's or account's item therefore fails to open.
 *
 * One seal costs one provider call (GenerateDataKey), one open costs one (Decrypt): a whole token
 * set is sealed together, never field by field.
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

const VERSION = 'v1';

/** Canonical bytes of a context: fixed key order, so AAD never depends on object construction. */
export function contextAad(context: EncryptionContext): Buffer {
  return Buffer.from(JSON.stringify([context.tenant, context.account, context.purpose]), 'utf8');
}

export function createTokenCipher(provider: DataKeyProvider): TokenCipher {
  return {
    async seal(value, context) {
      const key = await provider.generateDataKey(context);
      try {
        const iv = randomBytes(12);
        const cipher = createCipheriv('aes-256-gcm', key.plaintext, iv);
        cipher.setAAD(contextAad(context));
        const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final(), cipher.getAuthTag()]);
        return [VERSION, provider.kind, b64(key.encrypted), b64(iv), b64(body)].join('.');
      } finally {
        key.plaintext.fill(0);
      }
    },

    async open<T>(sealed: string, context: EncryptionContext): Promise<T> {
      const parts = sealed.split('.');
      // a sealed value is opened only by the provider kind that sealed it
      if (parts.length !== 5 || parts[0] !== VERSION || parts[1] !== provider.kind) {
        throw integrityError(context, 'unrecognised envelope');
      }
      const [, , edk, iv, body] = parts as [string, string, string, string, string];
      const dataKey = await provider.decryptDataKey(unb64(edk), context);
      try {
        const raw = unb64(body);
        if (raw.length < 16) throw integrityError(context, 'truncated ciphertext');
        const decipher = createDecipheriv('aes-256-gcm', dataKey, unb64(iv));
        decipher.setAAD(contextAad(context));
        decipher.setAuthTag(raw.subarray(raw.length - 16));
        const plain = Buffer.concat([decipher.update(raw.subarray(0, raw.length - 16)), decipher.final()]);
        return JSON.parse(plain.toString('utf8')) as T;
      } catch (err) {
        if (err instanceof BrokerError) throw err;
        throw integrityError(context, 'authentication failed', err);
      } finally {
        dataKey.fill(0);
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
