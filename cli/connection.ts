/**
 * Where the CLI sends its calls and with which credentials, from its options and environment —
 * read here once. Local mode: a bearer key from `--token`, `BROKER_ADMIN_TOKEN`, or the broker's
 * `admin.token` file. AWS: SigV4 with the default credential chain (`--aws`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAdminClient } from '../client/admin-client.js';
import type { AdminApi } from '../client/admin-api.js';
import { regionOfApiUrl } from '../client/auth.js';
import { MissingCredentials, UsageError } from './exit-codes.js';

export interface ConnectionOptions {
  url?: string;
  token?: string;
  tokenFile?: string;
  aws?: boolean;
  awsRegion?: string;
}

export const DEFAULT_URL = 'http://127.0.0.1:8787';

export interface Connection {
  api: AdminApi;
  url: string;
  /** How the CLI authenticates, for error messages: never the credential itself. */
  describe: string;
  aws: boolean;
}

export function connect(options: ConnectionOptions, env: NodeJS.ProcessEnv = process.env): Connection {
  const url = options.url ?? env.BROKER_URL ?? DEFAULT_URL;
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--url ${url} is not a URL (e.g. ${DEFAULT_URL}, or https://abc123.execute-api.eu-west-1.amazonaws.com/prod)`);
  }
  const retry = { maxAttempts: 3, maxDelayMs: 10_000 };
  if (options.aws) {
    const region = options.awsRegion ?? env.AWS_REGION ?? regionOfApiUrl(url);
    if (!region) throw new UsageError(`cannot tell the AWS region from ${url}: pass --aws-region (e.g. --aws-region eu-west-1)`);
    return { api: createAdminClient({ baseUrl: url, auth: { type: 'sigv4', region }, retry }), url, describe: `AWS SigV4 (${region}, default credential chain)`, aws: true };
  }
  const { token, source } = localToken(options, env);
  return { api: createAdminClient({ baseUrl: url, auth: { type: 'bearer', token }, retry }), url, describe: `bearer key from ${source}`, aws: false };
}

function localToken(options: ConnectionOptions, env: NodeJS.ProcessEnv): { token: string; source: string } {
  if (options.token) return { token: options.token, source: '--token' };
  if (options.tokenFile) return { token: readToken(options.tokenFile, '--token-file'), source: options.tokenFile };
  if (env.BROKER_ADMIN_TOKEN) return { token: env.BROKER_ADMIN_TOKEN, source: 'BROKER_ADMIN_TOKEN' };
  const file = join(env.BROKER_DATA_DIR ?? '.data', 'admin.token');
  try {
    return { token: readToken(file, file), source: file };
  } catch {
    throw new MissingCredentials(`no credentials: pass --token or --token-file, set BROKER_ADMIN_TOKEN, run where ${file} exists (npm start makes it), or use --aws for a deployment in AWS`);
  }
}

function readToken(path: string, name: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (!text) throw new UsageError(`${name}: ${path} is empty`);
  return text;
}
