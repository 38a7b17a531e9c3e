import type { KMSClient } from '@aws-sdk/client-kms';
import { kmsSdk } from '../aws-sdk.js';
import { BrokerError, toBrokerError } from '../errors.js';
import { integrityError, type DataKeyProvider, type EncryptionContext } from './token-cipher.js';

const { DecryptCommand, GenerateDataKeyCommand } = kmsSdk;

/**
 * Data keys from AWS KMS. The encryption context `{tenant, account, purpose}` is sent with every
 * call, so KMS itself refuses to unwrap a key under another tenant's or account's context, and IAM
 * can condition grants on it (`kms:EncryptionContext:tenant`).
 */
export function kmsDataKeys(kms: KMSClient, keyId: string): DataKeyProvider {
  return {
    kind: 'kms',
    async generateDataKey(context) {
      const out = await callKms(context, () =>
        kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { ...context } })),
      );
      if (!out.Plaintext || !out.CiphertextBlob) throw unavailable(new Error('GenerateDataKey answered without key material'));
      return { plaintext: out.Plaintext, encrypted: out.CiphertextBlob };
    },
    async decryptDataKey(encrypted, context) {
      const out = await callKms(context, () =>
        kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: encrypted, EncryptionContext: { ...context } })),
      );
      if (!out.Plaintext) throw unavailable(new Error('Decrypt answered without plaintext'));
      return out.Plaintext;
    },
  };
}

async function callKms<T>(context: EncryptionContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    // a context mismatch or tampered blob is an integrity failure, not an outage: never retried
    const name = (err as { name?: string }).name;
    if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') throw integrityError(context, name, err);
    // an outage or throttling is 503; a key that is missing, disabled or not ours to use is a deployment fault (500)
    throw toBrokerError(err, 'key service');
  }
}

function unavailable(cause: unknown): BrokerError {
  return new BrokerError('temporarily_unavailable', 503, 'the key service is unavailable; try again shortly', { cause, retryAfterS: 1 });
}
