import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { kmsDataKeys } from '../lib/crypto/kms-keys.js';
import { loadOrCreateLocalKey, localDataKeys } from '../lib/crypto/local-keys.js';
import { DataKeyCache, IN_MEMORY_MS, MAX_DATA_KEY_AGE_S, MAX_SEALS_PER_DATA_KEY } from '../lib/crypto/data-key-cache.js';
import { contextAad, createTokenCipher, type DataKeyProvider, type EncryptionContext, type TokenCipher } from '../lib/crypto/token-cipher.js';
import { BrokerError } from '../lib/errors.js';
import { FAKE_KEY_ARN, installFakeKms, type FakeKms } from './support/fake-kms.js';

const ALICE: EncryptionContext = { tenant: 'acme', account: 'alice', purpose: 'account-tokens' };
const TOKENS = { access_token: 'at_plaintext-access-token-value', refresh_token: 'rt_plaintext-refresh-token-value' };

let kms: FakeKms;
beforeAll(() => {
  kms = installFakeKms();
});
afterAll(() => kms.restore());
beforeEach(() => {
  kms.heal();
  kms.clearCalls();
});

const providers: [string, () => DataKeyProvider][] = [
  ['local key file', () => localDataKeys(randomBytes(32))],
  ['KMS', () => kmsDataKeys(new KMSClient({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } }), FAKE_KEY_ARN)],
];

/** Runs `act` and answers the BrokerError it threw (fails the test if it answered instead). */
async function rejection(act: () => Promise<unknown>): Promise<BrokerError> {
  const outcome = await act().then(
    (value) => ({ value }),
    (err: unknown) => ({ err }),
  );
  if (!('err' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.err).toBeInstanceOf(BrokerError);
  return outcome.err as BrokerError;
}

function expectIntegrityFailure(err: BrokerError): void {
  expect(err).toMatchObject({ code: 'server_error', status: 500 });
  // fails closed, and says nothing of what it protects
  expect(`${err.description} ${err.message}`).not.toContain(TOKENS.access_token);
  expect(`${err.description} ${err.message}`).not.toContain(TOKENS.refresh_token);
}

/** Flips one bit of one base64url segment of an envelope (`v2.kind.edk.seals.born.iv.body`). */
function tamper(sealed: string, segment: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[segment]!, 'base64url');
  bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
  parts[segment] = bytes.toString('base64url');
  return parts.join('.');
}

/** Changes one of the envelope's counters (`seals` = 3, `born` = 4) by one. */
function bump(sealed: string, segment: 3 | 4): string {
  const parts = sealed.split('.');
  parts[segment] = String(Number(parts[segment]) + 1);
  return parts.join('.');
}

describe.each(providers)('token cipher with %s data keys', (_name, makeProvider) => {
  let cipher: TokenCipher;
  beforeEach(() => {
    cipher = createTokenCipher(makeProvider());
  });

  it('round trip: a sealed value opens under its own context, and the envelope holds no plaintext', async () => {
    const sealed = await cipher.seal(TOKENS, ALICE);

    const opened = await cipher.open<typeof TOKENS>(sealed, ALICE);

    expect(opened).toEqual(TOKENS);
    expect(sealed).not.toContain(TOKENS.access_token);
    expect(sealed).not.toContain(Buffer.from(TOKENS.access_token).toString('base64url'));
  });

  it('each seal uses a fresh data key and IV: sealing the same value twice gives different envelopes', async () => {
    const first = await cipher.seal(TOKENS, ALICE);
    const second = await cipher.seal(TOKENS, ALICE);

    expect(first).not.toBe(second);
    expect(first.split('.')[2]).not.toBe(second.split('.')[2]);
  });

  it.each([
    ['another account of the same tenant', { ...ALICE, account: 'mallory' }],
    ['the same account id under another tenant', { ...ALICE, tenant: 'evilcorp' }],
    ['another purpose (tenant secrets)', { ...ALICE, purpose: 'tenant-client' as const }],
  ])('a ciphertext copied to %s fails closed (500 server_error, never the plaintext)', async (_what, otherContext) => {
    const sealed = await cipher.seal(TOKENS, ALICE);

    const err = await rejection(() => cipher.open(sealed, otherContext));

    expectIntegrityFailure(err);
  });

  it.each([
    ['the wrapped data key', 2],
    ['the IV', 5],
    ['the payload', 6],
  ])('a tampered ciphertext (%s) fails closed', async (_what, segment) => {
    const sealed = await cipher.seal(TOKENS, ALICE);

    const err = await rejection(() => cipher.open(tamper(sealed, segment), ALICE));

    expectIntegrityFailure(err);
  });

  it.each([
    ['seal count', 3],
    ['data key age', 4],
  ] as const)("a tampered counter of the data key (its %s) fails closed: the counters are authenticated with the payload", async (_what, segment) => {
    const sealed = await cipher.seal(TOKENS, ALICE);

    const err = await rejection(() => cipher.open(bump(sealed, segment), ALICE));

    expectIntegrityFailure(err);
  });

  it.each([
    ['not an envelope', 'plaintext-token'],
    ['an unknown version', 'v9.local.AAAA.AAAA.AAAA'],
    ['a truncated payload', null],
  ])('a malformed envelope (%s) fails closed', async (_what, value) => {
    const sealed = await cipher.seal(TOKENS, ALICE);
    const malformed = value ?? sealed.split('.').slice(0, 4).concat('AAAA').join('.');

    const err = await rejection(() => cipher.open(malformed, ALICE));

    expectIntegrityFailure(err);
  });
});

describe('token cipher: envelopes are opened only by the provider kind that sealed them', () => {
  it('a local-key envelope is refused by the KMS cipher, and a KMS envelope by the local one', async () => {
    const local = createTokenCipher(providers[0]![1]());
    const viaKms = createTokenCipher(providers[1]![1]());
    const sealedLocally = await local.seal(TOKENS, ALICE);
    const sealedByKms = await viaKms.seal(TOKENS, ALICE);

    const refusedByKms = await rejection(() => viaKms.open(sealedLocally, ALICE));
    const refusedLocally = await rejection(() => local.open(sealedByKms, ALICE));

    expectIntegrityFailure(refusedByKms);
    expectIntegrityFailure(refusedLocally);
  });
});

describe('token cipher with KMS: what KMS is asked', () => {
  const cipher = () => createTokenCipher(providers[1]![1]());

  it('every KMS call names the configured key and carries exactly the context {tenant, account, purpose}', async () => {
    const c = cipher();

    await c.open(await c.seal(TOKENS, ALICE), ALICE);

    expect(kms.calls).toEqual([
      { command: 'GenerateDataKey', keyId: FAKE_KEY_ARN, encryptionContext: { tenant: 'acme', account: 'alice', purpose: 'account-tokens' } },
      { command: 'Decrypt', keyId: FAKE_KEY_ARN, encryptionContext: { tenant: 'acme', account: 'alice', purpose: 'account-tokens' } },
    ]);
  });

  it('one seal costs one GenerateDataKey and one open one Decrypt, and the plaintext data key is wiped after use', async () => {
    const c = cipher();

    const sealed = await c.seal(TOKENS, ALICE);

    expect(kms.calls.map((call) => call.command)).toEqual(['GenerateDataKey']);
    expect(kms.issuedPlaintexts.at(-1)!.every((byte) => byte === 0)).toBe(true);
    await c.open(sealed, ALICE);
    expect(kms.calls.map((call) => call.command)).toEqual(['GenerateDataKey', 'Decrypt']);
  });

  it('KMS itself refuses a blob under another context: the fake answers InvalidCiphertextException and the cipher fails closed with 500', async () => {
    const c = cipher();
    const sealed = await c.seal(TOKENS, ALICE);

    const err = await rejection(() => c.open(sealed, { ...ALICE, account: 'bob' }));

    expectIntegrityFailure(err);
    expect(describeCause(err)).toContain('InvalidCiphertextException');
  });

  it.each(['KMSInternalException', 'ThrottlingException', 'DependencyTimeoutException'] as const)(
    'a KMS outage (%s) when opening is 503 temporarily_unavailable with Retry-After, never a plaintext',
    async (kind) => {
      const c = cipher();
      const sealed = await c.seal(TOKENS, ALICE);
      kms.fail(kind);

      const err = await rejection(() => c.open(sealed, ALICE));

      expect(err).toMatchObject({ code: 'temporarily_unavailable', status: 503 });
      expect(err.retryAfterS).toBeGreaterThan(0);
    },
  );

  it('a KMS outage when sealing is 503 temporarily_unavailable: nothing is sealed without a data key', async () => {
    const c = cipher();
    kms.fail('KMSInternalException');

    const err = await rejection(() => c.seal(TOKENS, ALICE));

    expect(err).toMatchObject({ code: 'temporarily_unavailable', status: 503 });
  });

  it('a cipher configured with another key id cannot open what the configured key sealed', async () => {
    const sealed = await cipher().seal(TOKENS, ALICE);
    const otherKey = createTokenCipher(kmsDataKeys(new KMSClient({ region: 'us-east-1' }), 'arn:aws:kms:us-east-1:444455556666:key/other'));

    const err = await rejection(() => otherKey.open(sealed, ALICE));

    expectIntegrityFailure(err);
  });
});

describe('token cipher with KMS: data keys kept across generations (as the Encryption SDK caches them)', () => {
  const kmsKeys = () => providers[1]![1]();
  /** A cipher whose data-key cache and wall clock the test moves. */
  function cipherWithClocks() {
    let mono = 0;
    let wall = Date.parse('2026-11-25T00:00:00Z');
    const dataKeys = new DataKeyCache({ monotonic: () => mono });
    const cipher = createTokenCipher(kmsKeys(), { dataKeys, clock: () => wall });
    return { cipher, dataKeys, advanceMemory: (ms: number) => void (mono += ms), advanceWall: (ms: number) => void (wall += ms) };
  }
  const commands = () => kms.calls.map((c) => c.command);
  const edkOf = (sealed: string) => sealed.split('.')[2];

  it('a refresh seals the new set under the data key of the old one: one KMS call in all (the Decrypt of the old set)', async () => {
    const { cipher } = cipherWithClocks();
    const linked = await cipher.seal(TOKENS, ALICE);
    kms.clearCalls();

    await cipher.open(linked, ALICE);
    const refreshed = await cipher.seal({ ...TOKENS, access_token: 'at_next' }, ALICE);

    expect(commands()).toEqual(['Decrypt']);
    expect(edkOf(refreshed)).toBe(edkOf(linked));
    expect(refreshed.split('.').slice(0, 5)).toEqual(['v2', 'kms', edkOf(linked), '2', linked.split('.')[4]]);
    expect(await createTokenCipher(kmsKeys()).open(refreshed, ALICE)).toEqual({ ...TOKENS, access_token: 'at_next' });
  });

  it('a data key seals at most 24 values, within 24 hours of the seal that made it', async () => {
    const { cipher, advanceWall } = cipherWithClocks();
    let sealed = await cipher.seal(TOKENS, ALICE);
    const generated = () => commands().filter((c) => c === 'GenerateDataKey').length;
    kms.clearCalls();

    for (let i = 2; i <= MAX_SEALS_PER_DATA_KEY; i++) sealed = await cipher.seal(await cipher.open(sealed, ALICE), ALICE);
    const withinCount = generated();
    sealed = await cipher.seal(await cipher.open(sealed, ALICE), ALICE);
    const afterCount = generated();
    advanceWall(MAX_DATA_KEY_AGE_S * 1000 - 1000);
    sealed = await cipher.seal(await cipher.open(sealed, ALICE), ALICE);
    const beforeAge = generated();
    advanceWall(1000);
    await cipher.seal(await cipher.open(sealed, ALICE), ALICE);

    expect([withinCount, afterCount, beforeAge, generated()]).toEqual([0, 1, 1, 2]);
  });

  it('the data key of one context never seals another context\'s value', async () => {
    const { cipher } = cipherWithClocks();
    const alice = await cipher.seal(TOKENS, ALICE);
    await cipher.open(alice, ALICE);
    kms.clearCalls();

    const bob = await cipher.seal(TOKENS, { ...ALICE, account: 'bob' });

    expect(commands()).toEqual(['GenerateDataKey']);
    expect(edkOf(bob)).not.toBe(edkOf(alice));
  });

  it('a data key is zeroed when it leaves the cache: after 60 s in memory, when evicted, replaced or spent', async () => {
    const { cipher, dataKeys, advanceMemory } = cipherWithClocks();
    const opened = async (context: EncryptionContext, sealed: string) => {
      await cipher.open(sealed, context);
      return kms.decryptedPlaintexts.at(-1)!;
    };
    const zeroed = (key: Uint8Array) => key.every((byte) => byte === 0);
    const alice = await cipher.seal(TOKENS, ALICE);

    // kept while it may seal the next value, zeroed once 60 s have passed
    const expiring = await opened(ALICE, alice);
    const keptAtFirst = !zeroed(expiring);
    advanceMemory(IN_MEMORY_MS);
    dataKeys.sweep();
    // replaced by the key of the same context opened again
    const replaced = await opened(ALICE, alice);
    await opened(ALICE, alice);
    // spent: the last seal it may make takes it out of the cache
    const spending = await opened(ALICE, alice);
    for (let i = 2; i <= MAX_SEALS_PER_DATA_KEY; i++) dataKeys.takeForSeal(contextAad(ALICE).toString('utf8'), Math.floor(Date.parse('2026-11-25T00:00:00Z') / 1000));
    const spentBefore = zeroed(spending);
    dataKeys.takeForSeal(contextAad(ALICE).toString('utf8'), Math.floor(Date.parse('2026-11-25T00:00:00Z') / 1000));

    expect([keptAtFirst, zeroed(expiring), zeroed(replaced), spentBefore, zeroed(spending)]).toEqual([true, true, true, false, true]);
    expect(dataKeys.size).toBe(0);
  });

  it('a data key is zeroed when the cache evicts it to stay within its bound', async () => {
    const dataKeys = new DataKeyCache({ maxEntries: 1 });
    const cipher = createTokenCipher(kmsKeys(), { dataKeys });
    const bob = { ...ALICE, account: 'bob' };
    const [sealedAlice, sealedBob] = [await cipher.seal(TOKENS, ALICE), await cipher.seal(TOKENS, bob)];

    await cipher.open(sealedAlice, ALICE);
    const aliceKey = kms.decryptedPlaintexts.at(-1)!;
    await cipher.open(sealedBob, bob);

    expect(aliceKey.every((byte) => byte === 0)).toBe(true);
    expect(dataKeys.size).toBe(1);
  });

  it('a v1 envelope (no counters) still opens, and its data key is never reused: the next seal makes a new one', async () => {
    const provider = kmsKeys();
    const key = await provider.generateDataKey(ALICE);
    const iv = randomBytes(12);
    const aes = createCipheriv('aes-256-gcm', key.plaintext, iv);
    aes.setAAD(contextAad(ALICE));
    const body = Buffer.concat([aes.update(JSON.stringify(TOKENS), 'utf8'), aes.final(), aes.getAuthTag()]);
    const v1 = ['v1', 'kms', Buffer.from(key.encrypted).toString('base64url'), iv.toString('base64url'), body.toString('base64url')].join('.');
    const cipher = createTokenCipher(provider);
    kms.clearCalls();

    const opened = await cipher.open(v1, ALICE);
    const next = await cipher.seal(opened, ALICE);

    expect(opened).toEqual(TOKENS);
    expect(commands()).toEqual(['Decrypt', 'GenerateDataKey']);
    expect(kms.decryptedPlaintexts.at(-1)!.every((byte) => byte === 0)).toBe(true);
    expect(next.split('.')[3]).toBe('1');
  });
});

describe('local key file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'broker-keys-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is made once with mode 0600 (its directory too when missing) and reused afterwards', async () => {
    const path = join(dir, 'nested', 'local.key');

    const first = await loadOrCreateLocalKey(path);
    const second = await loadOrCreateLocalKey(path);

    expect(first.created).toBe(true);
    expect(first.key).toHaveLength(32);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(second.created).toBe(false);
    expect(second.key.equals(first.key)).toBe(true);
  });

  it('tokens sealed before a restart open after it: the reloaded key opens them', async () => {
    const path = join(dir, 'local.key');
    const before = createTokenCipher(localDataKeys((await loadOrCreateLocalKey(path)).key));
    const sealed = await before.seal(TOKENS, ALICE);

    const after = createTokenCipher(localDataKeys((await loadOrCreateLocalKey(path)).key));

    expect(await after.open(sealed, ALICE)).toEqual(TOKENS);
  });

  it('a key file that does not hold a 256-bit key is refused, naming the file, and left untouched', async () => {
    const path = join(dir, 'local.key');
    await writeFile(path, 'not-a-key\n', { mode: 0o600 });

    const outcome = loadOrCreateLocalKey(path);

    await expect(outcome).rejects.toThrow(path);
    expect(await readFile(path, 'utf8')).toBe('not-a-key\n');
  });

  it('a different master key cannot open what another sealed (fails closed)', async () => {
    const sealed = await createTokenCipher(localDataKeys(randomBytes(32))).seal(TOKENS, ALICE);

    const err = await rejection(() => createTokenCipher(localDataKeys(randomBytes(32))).open(sealed, ALICE));

    expectIntegrityFailure(err);
  });
});

function describeCause(err: unknown): string {
  const names: string[] = [];
  let e: unknown = err;
  for (let i = 0; i < 5 && e instanceof Error; i++) {
    names.push(`${e.name}: ${e.message}`);
    e = e.cause;
  }
  return names.join(' <- ');
}
