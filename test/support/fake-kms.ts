/**
 * A stand-in for AWS KMS behind `aws-sdk-client-mock`: every `KMSClient` (including the one
 * `lib/runtime/aws.ts` makes at cold start) talks to it once installed.
 *
 * It keeps KMS's promises that the broker relies on:
 * - only the configured key exists (another KeyId: `NotFoundException`);
 * - `GenerateDataKey` answers a fresh 32-byte data key and a blob that wraps it under a master key
 *   with AES-256-GCM, the key id and the encryption context authenticated as AAD;
 * - `Decrypt` opens the blob only under the very same encryption context and key
 *   (else `InvalidCiphertextException` / `IncorrectKeyException`, as KMS answers).
 * Every call is recorded (command, KeyId, EncryptionContext), and `fail()` makes calls throw.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  DecryptCommand,
  GenerateDataKeyCommand,
  IncorrectKeyException,
  InvalidCiphertextException,
  KMSClient,
  KMSInternalException,
  KMSServiceException,
  NotFoundException,
  type DecryptCommandInput,
  type GenerateDataKeyCommandInput,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { recordMockedCall } from './aws-commands.js';

export const FAKE_KEY_ARN = 'arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab';

export interface KmsCall {
  command: 'GenerateDataKey' | 'Decrypt';
  keyId: string | undefined;
  encryptionContext: Record<string, string> | undefined;
}

export type KmsFailure = 'KMSInternalException' | 'ThrottlingException' | 'DependencyTimeoutException';

export interface FakeKms {
  keyArn: string;
  /** Every call the broker made, in order. */
  calls: KmsCall[];
  /** Plaintext data keys handed out by GenerateDataKey (to check that the broker wipes them). */
  issuedPlaintexts: Uint8Array[];
  /** Plaintext data keys handed out by Decrypt, the very objects the caller received. */
  decryptedPlaintexts: Uint8Array[];
  /** From now on every call throws this error (until {@link heal}). */
  fail(kind?: KmsFailure): void;
  heal(): void;
  /** Forget recorded calls. */
  clearCalls(): void;
  /** Uninstall the mock (every KMSClient is real again). */
  restore(): void;
}

const meta = { httpStatusCode: 400, requestId: 'fake-kms', attempts: 1, totalRetryDelay: 0 };

export function installFakeKms(keyArn: string = FAKE_KEY_ARN): FakeKms {
  const masterKey = randomBytes(32);
  const calls: KmsCall[] = [];
  const issuedPlaintexts: Uint8Array[] = [];
  const decryptedPlaintexts: Uint8Array[] = [];
  let failure: KmsFailure | undefined;
  const mock = mockClient(KMSClient);

  const record = (command: KmsCall['command'], input: { KeyId?: string | undefined; EncryptionContext?: Record<string, string> | undefined }) => {
    calls.push({ command, keyId: input.KeyId, encryptionContext: input.EncryptionContext === undefined ? undefined : { ...input.EncryptionContext } });
    if (failure) throw outage(failure);
  };

  mock.on(GenerateDataKeyCommand).callsFake((input: GenerateDataKeyCommandInput, getClient: () => unknown) => {
    void recordMockedCall(getClient(), 'kms', 'GenerateDataKey');
    record('GenerateDataKey', input);
    if (input.KeyId !== keyArn) throw new NotFoundException({ message: `Key '${String(input.KeyId)}' does not exist`, $metadata: meta });
    if (input.KeySpec !== 'AES_256' && input.NumberOfBytes !== 32) throw new KMSServiceException({ name: 'ValidationException', $fault: 'client', message: 'KeySpec AES_256 expected', $metadata: meta });
    const plaintext = new Uint8Array(randomBytes(32));
    issuedPlaintexts.push(plaintext);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
    cipher.setAAD(aad(keyArn, input.EncryptionContext));
    const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    // blob: key id length, key id, iv, wrapped key + tag (KMS blobs name their key too)
    const keyIdBytes = Buffer.from(keyArn, 'utf8');
    const blob = Buffer.concat([Buffer.from([keyIdBytes.length]), keyIdBytes, iv, sealed]);
    // the very object the caller receives is recorded, so a test can see whether it was wiped
    return { KeyId: keyArn, Plaintext: plaintext, CiphertextBlob: new Uint8Array(blob) };
  });

  mock.on(DecryptCommand).callsFake((input: DecryptCommandInput, getClient: () => unknown) => {
    void recordMockedCall(getClient(), 'kms', 'Decrypt');
    record('Decrypt', input);
    const blob = Buffer.from(input.CiphertextBlob ?? new Uint8Array());
    const invalid = () => new InvalidCiphertextException({ message: 'The ciphertext is invalid or was made under another encryption context', $metadata: meta });
    if (blob.length < 1) throw invalid();
    const idLength = blob[0]!;
    if (blob.length !== 1 + idLength + 12 + 32 + 16) throw invalid();
    const blobKeyId = blob.subarray(1, 1 + idLength).toString('utf8');
    if (input.KeyId !== undefined && input.KeyId !== blobKeyId) {
      throw new IncorrectKeyException({ message: 'The key ID in the request does not identify the key that encrypted the ciphertext', $metadata: meta });
    }
    const rest = blob.subarray(1 + idLength);
    try {
      const decipher = createDecipheriv('aes-256-gcm', masterKey, rest.subarray(0, 12));
      decipher.setAAD(aad(blobKeyId, input.EncryptionContext));
      decipher.setAuthTag(rest.subarray(12 + 32));
      const plaintext = new Uint8Array(Buffer.concat([decipher.update(rest.subarray(12, 12 + 32)), decipher.final()]));
      decryptedPlaintexts.push(plaintext);
      return { KeyId: blobKeyId, Plaintext: plaintext };
    } catch {
      throw invalid();
    }
  });

  return {
    keyArn,
    calls,
    issuedPlaintexts,
    decryptedPlaintexts,
    fail(kind = 'KMSInternalException') {
      failure = kind;
    },
    heal() {
      failure = undefined;
    },
    clearCalls() {
      calls.length = 0;
    },
    restore() {
      mock.restore();
    },
  };
}

/** KMS authenticates the encryption context as an unordered map: canonical (sorted) form here. */
function aad(keyId: string, context: Record<string, string> | undefined): Buffer {
  const entries = Object.entries(context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify([keyId, entries]), 'utf8');
}

function outage(kind: KmsFailure): Error {
  const $metadata = { ...meta, httpStatusCode: kind === 'ThrottlingException' ? 400 : 500 };
  if (kind === 'KMSInternalException') return new KMSInternalException({ message: 'simulated KMS internal failure', $metadata });
  return new KMSServiceException({ name: kind, $fault: kind === 'ThrottlingException' ? 'client' : 'server', message: `simulated ${kind}`, $metadata });
}
