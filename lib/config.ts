import { isIP } from 'node:net';

/**
 * Every setting of the broker, read and checked once. Nothing else in the code base reads
 * `process.env`: a missing or malformed variable fails here, at start (or Lambda cold start),
 * with its name in the message.
 */
export type Region = 'global' | 'cn';
export const REGIONS: readonly Region[] = ['global', 'cn'];

export type Role = 'service' | 'admin';
export interface ApiKeyGrant {
  tenants: string[]; // tenant ids, or ['*']
  role: Role;
}

export interface BrokerConfig {
  mode: 'aws' | 'local';
  tableName: string;
  /** KMS key (AWS mode). */
  kmsKeyId: string | undefined;
  /** Base of redirect URI and link URLs, without trailing slash. */
  publicUrl: string;
  issuers: Record<Region, string>;
  allowedRegions: Region[];
  /** DynamoDB endpoint override (DynamoDB Local). */
  dynamodbEndpoint: string | undefined;
  eventBusName: string | undefined;
  auditDays: number;
  /** Tokens expiring within this many seconds are refreshed by the scheduled refresher. */
  refreshHorizonS: number;
  local: {
    port: number;
    dataDir: string;
    refreshIntervalS: number;
    adminToken: string | undefined;
    apiKeys: Record<string, ApiKeyGrant>;
    webhookUrl: string | undefined;
  };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

/** Identifier rule for `{tenant}` and `{account}` (CONTRACT.md). */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function loadConfig(env: Env = process.env): BrokerConfig {
  const mode = readEnum(env, 'BROKER_MODE', ['aws', 'local'] as const, 'local');
  const port = readInt(env, 'PORT', 8787, 0, 65535);
  const publicUrl = stripSlash(readUrl(env, 'BROKER_PUBLIC_URL') ?? `http://127.0.0.1:${port}`);
  const issuers: Record<Region, string> = {
    // issuers compare as exact strings (RFC 8414 §3.3): kept as given, never normalised
    global: readIssuer(env, 'LONGPORT_ISSUER') ?? 'https://openapi.longportapp.com',
    cn: readIssuer(env, 'LONGPORT_ISSUER_CN') ?? 'https://openapi.longportapp.cn',
  };
  const allowedRegions = readList(env, 'BROKER_REGIONS', [...REGIONS]).map((r) => {
    if (!(REGIONS as readonly string[]).includes(r)) throw new ConfigError(`BROKER_REGIONS: unknown region "${r}" (allowed: ${REGIONS.join(', ')})`);
    return r as Region;
  });
  const config: BrokerConfig = {
    mode,
    tableName: env.BROKER_TABLE_NAME || 'longport-token-broker',
    kmsKeyId: env.BROKER_KMS_KEY_ID || undefined,
    publicUrl,
    issuers,
    allowedRegions,
    dynamodbEndpoint: readUrl(env, 'DYNAMODB_ENDPOINT'),
    eventBusName: env.BROKER_EVENT_BUS_NAME || undefined,
    auditDays: readInt(env, 'BROKER_AUDIT_DAYS', 90, 1, 3650),
    refreshHorizonS: readInt(env, 'BROKER_REFRESH_HORIZON_S', 900, 60, 86_400),
    local: {
      port,
      dataDir: env.BROKER_DATA_DIR || '.data',
      refreshIntervalS: readInt(env, 'BROKER_REFRESH_INTERVAL_S', 60, 1, 86_400),
      adminToken: env.BROKER_ADMIN_TOKEN || undefined,
      apiKeys: readApiKeys(env),
      webhookUrl: readUrl(env, 'BROKER_WEBHOOK_URL'),
    },
  };
  if (mode === 'aws') {
    requireKey(env, 'BROKER_TABLE_NAME');
    requireKey(env, 'BROKER_KMS_KEY_ID');
    requireKey(env, 'BROKER_PUBLIC_URL');
  }
  return config;
}

function requireKey(env: Env, key: string): void {
  if (!env[key]) throw new ConfigError(`${key} is required when BROKER_MODE=aws`);
}

function readEnum<T extends string>(env: Env, key: string, values: readonly T[], fallback: T): T {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (!(values as readonly string[]).includes(raw)) throw new ConfigError(`${key} must be one of ${values.join(', ')}, got "${raw}"`);
  return raw as T;
}

function readInt(env: Env, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${key} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

function readList(env: Env, key: string, fallback: string[]): string[] {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return fallback;
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

function readUrl(env: Env, key: string): string | undefined {
  const raw = env[key];
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${key} must be an absolute URL, got "${raw}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${key} must be an http(s) URL`);
  return raw;
}

/**
 * Issuers must be https; plain http is accepted only on loopback addresses, for local testing
 * (CONTRACT.md "Only configured issuers are ever contacted").
 */
function readIssuer(env: Env, key: string): string | undefined {
  const raw = readUrl(env, key);
  if (raw === undefined) return undefined;
  const url = new URL(raw);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new ConfigError(`${key} must use https (plain http is allowed only on loopback addresses), got "${raw}"`);
  }
  if (url.search || url.hash) throw new ConfigError(`${key} must not carry a query or fragment`);
  return raw;
}

/**
 * The Lambda Runtime API's `host:port`, which the Lambda runtime sets in every execution
 * environment (`AWS_LAMBDA_RUNTIME_API`); undefined elsewhere. Read before the broker's own
 * configuration, at module load, to register the after-response extension during init.
 */
export function lambdaRuntimeApi(env: Env = process.env): string | undefined {
  return env.AWS_LAMBDA_RUNTIME_API || undefined;
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

function readApiKeys(env: Env): Record<string, ApiKeyGrant> {
  const raw = env.BROKER_API_KEYS;
  if (raw === undefined || raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // never echo the value: it holds keys
    throw new ConfigError('BROKER_API_KEYS must be JSON: {"<key>": {"tenants": ["acme"], "role": "service"}}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('BROKER_API_KEYS must be a JSON object keyed by API key');
  }
  const out: Record<string, ApiKeyGrant> = {};
  let index = 0;
  for (const [key, grant] of Object.entries(parsed as Record<string, unknown>)) {
    index += 1;
    const where = `BROKER_API_KEYS entry #${index}`;
    if (key.length < 16) throw new ConfigError(`${where}: a key must be at least 16 characters`);
    const g = grant as { tenants?: unknown; role?: unknown } | null;
    if (!g || !Array.isArray(g.tenants) || g.tenants.length === 0) throw new ConfigError(`${where}: "tenants" must be a non-empty array`);
    for (const t of g.tenants) {
      if (typeof t !== 'string' || (t !== '*' && !ID_PATTERN.test(t))) throw new ConfigError(`${where}: tenant "${String(t)}" is not a valid tenant id or "*"`);
    }
    if (g.role !== 'service' && g.role !== 'admin') throw new ConfigError(`${where}: "role" must be "service" or "admin"`);
    out[key] = { tenants: g.tenants as string[], role: g.role };
  }
  return out;
}

function stripSlash(s: string): string {
  return s.replace(/\/+$/, '');
}
