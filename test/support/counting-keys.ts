import type { DataKeyProvider } from '../../lib/crypto/token-cipher.js';

/** A data-key provider that counts its calls (KMS GenerateDataKey and Decrypt in AWS). */
export function countingKeys(inner: DataKeyProvider) {
  const counts = { generate: 0, decrypt: 0 };
  const provider: DataKeyProvider = {
    kind: inner.kind,
    generateDataKey: (context) => {
      counts.generate += 1;
      return inner.generateDataKey(context);
    },
    decryptDataKey: (blob, context) => {
      counts.decrypt += 1;
      return inner.decryptDataKey(blob, context);
    },
  };
  return {
    provider,
    counts,
    reset: () => Object.assign(counts, { generate: 0, decrypt: 0 }),
    total: () => counts.generate + counts.decrypt,
  };
}
