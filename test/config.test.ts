import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig } from '../lib/config.js';

/** The ConfigError that loading this environment throws. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(Object.keys(env))}`);
}

const AWS_ENV = {
  BROKER_MODE: 'aws',
  BROKER_TABLE_NAME: 'broker-table',
  BROKER_KMS_KEY_ID: 'arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  BROKER_PUBLIC_URL: 'https://abc123def4.execute-api.us-east-1.amazonaws.com',
};

describe('loadConfig: defaults (CONTRACT.md "Local mode")', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('an empty environment is local mode with the documented defaults', () => {
    const config = loadConfig({});

    expect(config).toMatchObject({
      mode: 'local',
      publicUrl: 'http://127.0.0.1:8787',
      issuers: { global: 'https://openapi.longportapp.com', cn: 'https://openapi.longportapp.cn' },
      allowedRegions: ['global', 'cn'],
      dynamodbEndpoint: undefined,
      kmsKeyId: undefined,
      refreshIntervalS: 60,
      local: { port: 8787, dataDir: '.data', adminToken: undefined, apiKeys: {} },
    });
  });

  it('BROKER_PUBLIC_URL defaults to http://127.0.0.1:$PORT', () => {
    const config = loadConfig({ PORT: '9123' });

    expect(config.publicUrl).toBe('http://127.0.0.1:9123');
    expect(config.local.port).toBe(9123);
  });

  it('a trailing slash of BROKER_PUBLIC_URL is dropped, so the redirect URI has no double slash', () => {
    const config = loadConfig({ BROKER_PUBLIC_URL: 'https://broker.example.com/' });

    expect(config.publicUrl).toBe('https://broker.example.com');
  });

  it('settings are read from the environment passed in, never from process.env behind its back', () => {
    vi.stubEnv('PORT', '4444');
    vi.stubEnv('BROKER_ADMIN_TOKEN', 'from-process-env-0123456789');

    const config = loadConfig({});

    expect(config.local.port).toBe(8787);
    expect(config.local.adminToken).toBeUndefined();
  });
  it('every documented local variable is honoured', () => {
    const config = loadConfig({
      PORT: '8080',
      BROKER_DATA_DIR: '/var/lib/broker',
      BROKER_REFRESH_INTERVAL_S: '15',
      BROKER_ADMIN_TOKEN: 'admin-token-0123456789abcdef',
      DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000',
      BROKER_REGIONS: 'global',
    });

    expect(config).toMatchObject({
      dynamodbEndpoint: 'http://127.0.0.1:8000',
      allowedRegions: ['global'],
      refreshIntervalS: 15,
      local: { port: 8080, dataDir: '/var/lib/broker', adminToken: 'admin-token-0123456789abcdef' },
    });
  });
});

describe('loadConfig: issuers ("Plain http issuers are accepted only on loopback addresses")', () => {
  it.each(['http://127.0.0.1:4000', 'http://127.8.9.10', 'http://localhost:4000', 'http://[::1]:4000'])('a plain http issuer on loopback (%s) is accepted', (issuer) => {
    const config = loadConfig({ LONGPORT_ISSUER: issuer, LONGPORT_ISSUER_CN: issuer });

    expect(config.issuers).toEqual({ global: issuer, cn: issuer });
  });

  it.each([
    ['LONGPORT_ISSUER', 'http://openapi.longportapp.com'],
    ['LONGPORT_ISSUER', 'http://10.0.0.1:4000'],
    ['LONGPORT_ISSUER', 'http://localhost.evil.example'],
    ['LONGPORT_ISSUER_CN', 'http://openapi.longportapp.cn'],
    ['LONGPORT_ISSUER_CN', 'http://[::ffff:7f00:1]'],
  ])('a plain http issuer off loopback (%s=%s) is refused, naming the variable', (key, issuer) => {
    const err = configError({ [key]: issuer });

    expect(err.message).toContain(key);
    expect(err.message).toMatch(/https/);
  });

  it('an https issuer is kept exactly as given (issuers compare as exact strings, RFC 8414 §3.3)', () => {
    const config = loadConfig({ LONGPORT_ISSUER: 'https://openapi.longbridge.com/', LONGPORT_ISSUER_CN: 'https://openapi.longbridge.cn' });

    expect(config.issuers).toEqual({ global: 'https://openapi.longbridge.com/', cn: 'https://openapi.longbridge.cn' });
  });

  it.each([
    ['not a URL', 'openapi.longportapp.com'],
    ['another scheme', 'ftp://openapi.longportapp.com'],
    ['a query', 'https://openapi.longportapp.com?x=1'],
    ['a fragment', 'https://openapi.longportapp.com#x'],
  ])('an issuer with %s is refused, naming the variable', (_what, issuer) => {
    const err = configError({ LONGPORT_ISSUER: issuer });

    expect(err.message).toContain('LONGPORT_ISSUER');
  });
});

describe('loadConfig: BROKER_API_KEYS', () => {
  const KEY = 'svc-key-SECRET-0123456789abcdef';

  it('valid keys are read with their tenants and role', () => {
    const config = loadConfig({
      BROKER_API_KEYS: JSON.stringify({ [KEY]: { tenants: ['acme'], role: 'service' }, 'admin-key-SECRET-0123456789': { tenants: ['*'], role: 'admin' } }),
    });

    expect(config.local.apiKeys).toEqual({
      [KEY]: { tenants: ['acme'], role: 'service' },
      'admin-key-SECRET-0123456789': { tenants: ['*'], role: 'admin' },
    });
  });

  it.each([
    ['malformed JSON', `{"${KEY}": {"tenants": ["acme"], "role": "service"`, /must be JSON/],
    ['an array', JSON.stringify([KEY]), /JSON object/],
    ['a key shorter than 16 characters', JSON.stringify({ 'short-SECRET': { tenants: ['acme'], role: 'service' } }), /at least 16 characters/],
    ['no tenants', JSON.stringify({ [KEY]: { tenants: [], role: 'service' } }), /"tenants" must be a non-empty array/],
    ['a grant that is not an object', JSON.stringify({ [KEY]: null }), /"tenants" must be a non-empty array/],
    ['an invalid tenant id', JSON.stringify({ [KEY]: { tenants: ['../etc'], role: 'service' } }), /not a valid tenant id/],
    ['an unknown role', JSON.stringify({ [KEY]: { tenants: ['acme'], role: 'root' } }), /"role" must be "service" or "admin"/],
  ])('%s is refused with a message that never echoes a key value', (_what, raw, expected) => {
    const err = configError({ BROKER_API_KEYS: raw });

    expect(err.message).toContain('BROKER_API_KEYS');
    expect(err.message).toMatch(expected);
    expect(err.message).not.toContain('SECRET');
  });
});

describe('loadConfig: AWS mode', () => {
  it('with every required variable set, AWS mode loads', () => {
    const config = loadConfig(AWS_ENV);

    expect(config).toMatchObject({ mode: 'aws', tableName: 'broker-table', kmsKeyId: AWS_ENV.BROKER_KMS_KEY_ID, publicUrl: AWS_ENV.BROKER_PUBLIC_URL });
  });

  it.each(['BROKER_TABLE_NAME', 'BROKER_KMS_KEY_ID', 'BROKER_PUBLIC_URL'])('a missing %s fails at cold start, naming the variable', (key) => {
    const env: Record<string, string> = { ...AWS_ENV };
    delete env[key];

    const err = configError(env);

    expect(err.message).toContain(key);
  });

  it('an unknown BROKER_MODE is refused, naming the variable and the allowed values', () => {
    const err = configError({ BROKER_MODE: 'lambda' });

    expect(err.message).toContain('BROKER_MODE');
    expect(err.message).toContain('aws, local');
  });
});

describe('loadConfig: numbers, URLs and regions', () => {
  it.each([
    ['PORT', '70000'],
    ['PORT', 'eighty'],
    ['BROKER_REFRESH_INTERVAL_S', '0'],
    ['BROKER_REFRESH_INTERVAL_S', '1.5'],
    ['BROKER_AUDIT_DAYS', '0'],
    ['BROKER_REFRESH_HORIZON_S', '10'],
  ])('%s=%s is refused, naming the variable', (key, value) => {
    const err = configError({ [key]: value });

    expect(err.message).toContain(key);
  });

  it.each([
    ['BROKER_PUBLIC_URL', 'broker.example.com'],
    ['DYNAMODB_ENDPOINT', 'localhost:8000'],
    ['BROKER_PUBLIC_URL', 'javascript:alert(1)'],
  ])('%s=%s (not an absolute http(s) URL) is refused, naming the variable', (key, value) => {
    const err = configError({ [key]: value });

    expect(err.message).toContain(key);
  });

  it('BROKER_REGIONS names only known regions', () => {
    const err = configError({ BROKER_REGIONS: 'global,mars' });

    expect(err.message).toContain('BROKER_REGIONS');
    expect(err.message).toContain('mars');
  });
});
