import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { contextAad, integrityError, type DataKeyProvider } from './token-cipher.js';

/**
 * Data keys wrapped by a local 256-bit master key (local mode, CONTRACT.md): the stand-in for KMS.
 * The wrap uses AES-256-GCM with the encryption context as AAD, so the binding is the same as KMS's.
 */
export function localDataKeys(masterKey: Uint8Array): DataKeyProvider {
  if (masterKey.length !== 32) throw new Error('the local master key must be 32 bytes');
  return {
    kind: 'local',
    async generateDataKey(context) {
      const plaintext = randomBytes(32);
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
      cipher.setAAD(contextAad(context));
      const wrapped = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      return { plaintext, encrypted: wrapped };
    },
    async decryptDataKey(encrypted, context) {
      const buf = Buffer.from(encrypted);
      if (buf.length !== 12 + 32 + 16) throw integrityError(context, 'wrapped key has the wrong length');
      try {
        const decipher = createDecipheriv('aes-256-gcm', masterKey, buf.subarray(0, 12));
        decipher.setAAD(contextAad(context));
        decipher.setAuthTag(buf.subarray(12 + 32));
        return Buffer.concat([decipher.update(buf.subarray(12, 12 + 32)), decipher.final()]);
      } catch (err) {
        throw integrityError(context, 'wrapped key did not open under this context', err);
      }
    },
  };
}

/** Reads the local key file, making it once (mode 0600) when it does not exist. */
export async function loadOrCreateLocalKey(path: string): Promise<{ key: Buffer; created: boolean }> {
  try {
    const raw = (await readFile(path, 'utf8')).trim();
    const key = Buffer.from(raw, 'base64');
    if (key.length !== 32) throw new Error(`${path} does not hold a base64 256-bit key; move it away to make a new one (tokens sealed with it will be lost)`);
    return { key, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dirname(path), { recursive: true });
  const key = randomBytes(32);
  // 'wx': never overwrite a key another process made meanwhile
  await writeFile(path, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  await chmod(path, 0o600);
  return { key, created: true };
}
