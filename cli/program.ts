/**
 * The `longport-token-broker` CLI: what an operator scripts against a broker, in local mode (a
 * bearer key) or in AWS (SigV4), built on the typed admin client and commander.
 */
import { createInterface } from 'node:readline/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { renderUnicodeCompact } from 'uqr';
import { ACCOUNT_STATUSES, FINGERPRINT_PATTERN, renewsAround, tokenFingerprint, type AccountStatus, type AuditEvent, type AuditQuery, type PutTenantInput, type Region } from '../client/admin-api.js';
import { BrokerClientError, ID_PATTERN, isMissingRoute } from '../client/http.js';
import { exact, relative } from '../console/app/format.js';
import { connect, DEFAULT_URL, type Connection, type ConnectionOptions } from './connection.js';
import { EXIT, exitCodeOf, UsageError } from './exit-codes.js';
import { facts, json, progress, table, type Io } from './output.js';

interface GlobalOptions extends ConnectionOptions {
  json?: boolean;
}

const EXIT_CODES_HELP = `
Connection:
  Local mode (npm start): --url (default ${DEFAULT_URL}, or BROKER_URL) with a bearer key from
  --token, --token-file, BROKER_ADMIN_TOKEN, or $BROKER_DATA_DIR/admin.token (default .data/).
  AWS: --aws --url <API URL with stage> [--aws-region], signed with your AWS credentials (default chain).

Exit codes:
  0 ok · 1 failed · 2 usage or bad input · 3 credentials missing, refused or not allowed (401/403)
  4 not found (404) · 5 conflict, e.g. reauth_required (409) · 6 unavailable, try again (503/429/no connection)
`;

const id = (name: string) => (value: string) => {
  if (!ID_PATTERN.test(value)) throw new InvalidArgumentError(`a ${name} id is letters, digits, ".", "_" or "-" (at most 64), starting with a letter or digit`);
  return value;
};
const positiveInt = (max: number) => (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw new InvalidArgumentError(`a whole number from 1 to ${max}`);
  return Number(value);
};
const seconds = (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('a whole number of seconds');
  return Number(value);
};

/** Builds the program; `run` parses argv and answers the exit code. */
export function buildProgram(io: Io, env: NodeJS.ProcessEnv, readStdin: () => Promise<string>): Command {
  const program = new Command('longport-token-broker')
    .description('Operate a longport-token-broker: tenants, accounts, links, tokens and the audit trail.')
    .option('--url <url>', `broker base URL (env BROKER_URL; default ${DEFAULT_URL})`)
    .option('--token <key>', 'admin token or admin key (prefer BROKER_ADMIN_TOKEN or --token-file: arguments show in ps)')
    .option('--token-file <path>', 'read the admin token or key from this file')
    .option('--aws', 'a deployment in AWS: sign calls with your AWS credentials (SigV4)')
    .option('--aws-region <region>', 'AWS region of the API (default: from an execute-api URL, or AWS_REGION)')
    .option('--json', 'print JSON for scripts instead of tables')
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();

  const ctx = (cmd: Command) => {
    const opts = cmd.optsWithGlobals<GlobalOptions>();
    return { opts, conn: connect(opts, env) };
  };
  const print = (opts: GlobalOptions, human: () => string, machine: unknown) => io.out(opts.json ? json(machine) : human());

  // tenants
  const tenants = program.command('tenants').description('list, show and register tenants');
  tenants
    .command('list')
    .description('every tenant you may administer, with its linked and needs_reauth counts')
    .option('--limit <n>', 'at most this many', positiveInt(100_000))
    .action(async (o: { limit?: number }, cmd: Command) => {
      const { opts, conn } = ctx(cmd);
      const shown = await collectPages(io, 'loading tenants', o.limit, async (cursor) => {
        const page = await conn.api.listTenants({ limit: 100, ...(cursor ? { cursor } : {}) });
        return { items: page.tenants, next: page.next };
      });
      print(
        opts,
        () =>
          table(
            ['TENANT', 'REGION', 'CLIENT', 'LINKED', 'NEEDS_REAUTH', 'STATE'],
            shown.map((t) => [t.tenant, t.region, t.client_type, String(t.accounts.linked), String(t.accounts.needs_reauth), t.state]),
            'no tenants yet: register one with `longport-token-broker tenants put <tenant> --region global`',
          ),
        { tenants: shown },
      );
    });
  tenants
    .command('get')
    .description("a tenant's settings and OAuth client (never a secret)")
    .argument('<tenant>', 'tenant id', id('tenant'))
    .action(async (tenant: string, _o: unknown, cmd: Command) => {
      const { opts, conn } = ctx(cmd);
      const t = await conn.api.getTenant(tenant);
      print(
        opts,
        () =>
          facts([
            ['tenant', t.tenant],
            ['state', t.state],
            ['region', t.region],
            ['client_id', t.client_id],
            ['client_type', t.client_type],
            ['redirect_uri', t.redirect_uri],
            ['scope', t.scope],
            ['return_to_origins', t.return_to_origins?.join(', ') || (t.return_to_origins ? '(none)' : undefined)],
            ['confirm_links', t.confirm_links === undefined ? undefined : String(t.confirm_links)],
            ['created_at', t.created_at],
            ['updated_at', t.updated_at],
          ]),
        t,
      );
    });
  tenants
    .command('put')
    .description("register a tenant's OAuth client (discovery + dynamic registration), import one, or update its settings")
    .argument('<tenant>', 'tenant id', id('tenant'))
    .addOption(new Option('--region <region>', 'LongPort region').choices(['global', 'cn']).makeOptionMandatory())
    .option('--scope <scope>', 'OAuth scope (LongPort: 3)')
    .option('--return-to-origin <origin...>', "origins a link's return_to may point at (repeatable)")
    .option('--confirm-links', "the tenant's app confirms each link (link/confirm)")
    .option('--client-id <id>', 'import this pre-registered client instead of registering one')
    .option('--client-secret-stdin', "read the imported client's secret from stdin (never an argument)")
    .option('--change-region', 'move an existing tenant to --region (every linked account must link again)')
    .action(async (tenant: string, o: { region: Region; scope?: string; returnToOrigin?: string[]; confirmLinks?: boolean; clientId?: string; clientSecretStdin?: boolean; changeRegion?: boolean }, cmd: Command) => {
      const { opts, conn } = ctx(cmd);
      if (o.clientSecretStdin && !o.clientId) throw new UsageError('--client-secret-stdin needs --client-id');
      const secret = o.clientSecretStdin ? (await readStdin()).trim() : undefined;
      if (o.clientSecretStdin && !secret) throw new UsageError('--client-secret-stdin: stdin was empty');
      const input: PutTenantInput = {
        region: o.region,
        ...(o.scope ? { scope: o.scope } : {}),
        ...(o.returnToOrigin ? { return_to_origins: o.returnToOrigin } : {}),
        ...(o.confirmLinks ? { confirm_links: true } : {}),
        ...(o.clientId ? { client_id: o.clientId } : {}),
        ...(secret ? { client_secret: secret } : {}),
        ...(o.changeRegion ? { change_region: true } : {}),
      };
      const p = progress(io, o.clientId ? 'importing the client' : 'registering at LongPort');
      const result = await conn.api.putTenant(tenant, input).finally(p.done);
      print(opts, () => `${result.created ? 'registered' : 'updated'} ${result.tenant.tenant}: ${result.tenant.client_type} client ${result.tenant.client_id} in ${result.tenant.region}\nredirect_uri ${result.tenant.redirect_uri}\n`, { created: result.created, ...result.tenant });
    });

  // accounts
  program
    .command('accounts')
    .description("a tenant's accounts")
    .command('list')
    .description('accounts with status, token expiry and about when the refresher renews them')
    .argument('<tenant>', 'tenant id', id('tenant'))
    .addOption(new Option('--status <status>', 'only this status').choices(ACCOUNT_STATUSES))
    .option('--limit <n>', 'at most this many', positiveInt(1_000_000))
    .action(async (tenant: string, o: { status?: AccountStatus; limit?: number }, cmd: Command) => {
      const { opts, conn } = ctx(cmd);
      const shown = await collectPages(io, 'loading accounts', o.limit, async (cursor) => {
        const page = await conn.api.listAccounts(tenant, { limit: 200, ...(o.status ? { status: o.status } : {}), ...(cursor ? { cursor } : {}) });
        return { items: page.accounts, next: page.next };
      });
      const now = Date.now();
      print(
        opts,
        () =>
          table(
            ['ACCOUNT', 'STATUS', 'EXPIRES', 'RENEWS_AROUND', 'REFRESHED', 'LINKED'],
            shown.map((a) => {
              const renews = renewsAround(a);
              return [a.account, a.status, a.status === 'linked' ? when(a.expires_at, now) : '-', renews === undefined ? '-' : renews <= now ? 'due now' : when(renews, now), when(a.refreshed_at, now), when(a.linked_at, now)];
            }),
            o.status ? `no ${o.status} accounts in ${tenant}` : `no accounts in ${tenant} yet: create a link with \`longport-token-broker link create ${tenant} <account>\``,
          ),
        { accounts: shown },
      );
    });

  // links
  program
    .command('link')
    .description('single-use link URLs for end users')
    .command('create')
    .description('a link URL for an end user (single-use, 10 minutes); a QR code on a terminal')
    .argument('<tenant>', 'tenant id', id('tenant'))
    .argument('<account>', 'account id', id('account'))
    .option('--return-to <url>', "where the end user lands afterwards (its origin must be in the tenant's return_to_origins)")
    .option('--no-qr', 'no QR code, even on a terminal')
    .action(async (tenant: string, account: string, o: { returnTo?: string; qr: boolean }, cmd: Command) => {
      const { opts, conn } = ctx(cmd);
      const link = await conn.api.createLink(tenant, account, o.returnTo ? { return_to: o.returnTo } : {});
      if (opts.json) return io.out(json(link));
      io.out(`${link.link_url}\n`);
      io.err(`single-use, expires ${relative(Date.parse(link.expires_at), Date.now())} (${exact(Date.parse(link.expires_at))}): hand it to the end user of ${account} directly\n`);
      if (o.qr && io.outIsTty) io.out(`\n${renderUnicodeCompact(link.link_url, { border: 2 })}\n`);
    });

  // tokens
  program
    .command('token')
    .description('access tokens')
    .command('get')
    .description('a valid access token (stdout: the token alone, for $(…); --json for the whole answer)')
    .argument('<tenant>', 'tenant id', id('tenant'))
    .argument('<account>', 'account id', id('account'))
    .option('--min-ttl <seconds>', 'seconds of validity it must still have (default 60)', seconds)
    .action(async (tenant: string, account: string, o: { minTtl?: number }, cmd: Command) => {
      const { opts, conn } = ctx(cmd);
      const token = await conn.api.getToken(tenant, account, o.minTtl !== undefined ? { minTtl: o.minTtl } : {});
      if (opts.json) return io.out(json(token));
      io.out(`${token.access_token}\n`);
      io.err(`expires in ${token.expires_in} s (${exact(Date.parse(token.expires_at))}), scope ${token.scope}\n`);
    });
  program
    .command('refresh')
    .description('force a refresh of an account’s token now')
    .argument('<tenant>', 'tenant id', id('tenant'))
    .argument('<account>', 'account id', id('account'))
    .action(async (tenant: string, account: string, _o: unknown, cmd: Command) => {
      const { opts, conn } = ctx(cmd);
      const p = progress(io, 'refreshing at LongPort');
      const token = await conn.api.refresh(tenant, account).finally(p.done);
      // the token itself only on request (--json): a refresh is usually run to check an account
      print(opts, () => `refreshed ${tenant}/${account}: the token expires in ${token.expires_in} s (${exact(Date.parse(token.expires_at))})\n`, token);
    });
  program
    .command('unlink')
    .description('revoke an account’s refresh token at LongPort and delete its tokens')
    .argument('<tenant>', 'tenant id', id('tenant'))
    .argument('<account>', 'account id', id('account'))
    .option('-y, --yes', 'do not ask (required when stdin is not a terminal)')
    .action(async (tenant: string, account: string, o: { yes?: boolean }, cmd: Command) => {
      const { opts, conn } = ctx(cmd);
      if (!o.yes) {
        if (!process.stdin.isTTY) throw new UsageError(`unlink ${tenant}/${account}: pass --yes to confirm (stdin is not a terminal)`);
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        const answer = await rl.question(`Unlink ${tenant}/${account}? Its end user will have to link again. [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) throw new UsageError('not unlinked');
      }
      await conn.api.unlinkAccount(tenant, account);
      print(opts, () => `unlinked ${tenant}/${account}\n`, { tenant, account, unlinked: true });
    });

  // audit
  program
    .command('audit')
    .description("a tenant's audit trail, newest first; --follow prints new events as they are written")
    .argument('<tenant>', 'tenant id', id('tenant'))
    .option('--account <account>', 'only this account', id('account'))
    .option('--fingerprint <hex>', 'only events of this token fingerprint (16 hex characters)')
    .option('--token-stdin', 'read a leaked access token from stdin and filter by its fingerprint (computed here; the token is not sent)')
    .option('--since <time>', 'only events at or after this ISO 8601 time')
    .option('--limit <n>', 'events to show (default 50)', positiveInt(200))
    .option('-f, --follow', 'keep printing new events until Ctrl-C')
    .option('--interval <seconds>', 'how often --follow asks (default 5)', positiveInt(3600))
    .action(async (tenant: string, o: { account?: string; fingerprint?: string; tokenStdin?: boolean; since?: string; limit?: number; follow?: boolean; interval?: number }, cmd: Command) => {
      const { opts, conn } = ctx(cmd);
      const fingerprint = await fingerprintOf(o, readStdin);
      if (o.since !== undefined && Number.isNaN(Date.parse(o.since))) throw new UsageError(`--since ${o.since} is not an ISO 8601 time (e.g. 2026-01-02T03:04:05Z)`);
      const query: AuditQuery = { ...(o.account ? { account: o.account } : {}), ...(fingerprint ? { token_fingerprint: fingerprint } : {}), ...(o.since ? { since: new Date(o.since).toISOString() } : {}) };
      // a broker that ignores a filter it does not know answers every event: only matching ones are shown
      const matches = (e: AuditEvent) => (!fingerprint || e.token_fingerprint === fingerprint) && (!o.account || e.account === o.account);
      const page = await conn.api.audit(tenant, { ...query, limit: o.limit ?? 50 });
      const events = newestFirst(page.events).filter(matches);
      if (!o.follow) {
        print(opts, () => auditTable(events, fingerprint || o.account ? 'no event matches' : `no events recorded for ${tenant} yet`) + (page.next ? '(more: narrow with --since, --account or --limit)\n' : ''), { events, ...(page.next ? { next: page.next } : {}) });
        return;
      }
      await follow(io, conn, tenant, query, events, matches, Boolean(opts.json), (o.interval ?? 5) * 1000);
    });

  return program;
}

/** Runs the CLI; answers the exit code. Errors say what happened and what to do. */
export async function run(argv: string[], io: Io, env: NodeJS.ProcessEnv, readStdin: () => Promise<string>): Promise<number> {
  const program = buildProgram(io, env, readStdin);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const conn = safeConnection(program);
    io.err(`error: ${explain(err, conn)}\n`);
    return exitCodeOf(err);
  }
}

function safeConnection(program: Command): Connection | undefined {
  try {
    return connect(program.opts<GlobalOptions>(), {});
  } catch {
    return undefined;
  }
}

/** One or two sentences: what went wrong, then what to do about it. */
function explain(err: unknown, conn: Connection | undefined): string {
  if (err instanceof UsageError) return err.message;
  if (!(err instanceof BrokerClientError)) return err instanceof Error ? err.message : String(err);
  const where = conn?.url ?? 'the broker';
  const base = `${err.status ? `HTTP ${err.status} ` : ''}${err.error}: ${err.description}`;
  if (err.status === 0) return `cannot reach ${where}: ${err.description}\n  is the broker running (npm start)? Otherwise pass --url.`;
  if (isMissingRoute(err)) return `${base}\n  this broker is older than the CLI and does not offer this command yet.`;
  switch (err.status) {
    case 401:
      return `${base}\n  the credentials were refused. Local mode: --token, --token-file, BROKER_ADMIN_TOKEN or .data/admin.token must hold the admin token or an admin key. AWS: pass --aws.`;
    case 403:
      return `${base}\n  this caller may not do that for this tenant: use the admin token, a key whose tenants include it, or (AWS) an IAM grant from grantAdmin.`;
    case 409:
      return err.error === 'reauth_required' ? `${base}\n  the end user must link again: longport-token-broker link create <tenant> <account>` : base;
    case 429:
    case 503:
      return `${base}\n  try again${err.retryAfterS !== undefined ? ` in ${err.retryAfterS} s` : ' in a moment'}.`;
    default:
      return base;
  }
}

async function fingerprintOf(o: { fingerprint?: string; tokenStdin?: boolean }, readStdin: () => Promise<string>): Promise<string | undefined> {
  if (o.fingerprint && o.tokenStdin) throw new UsageError('give --fingerprint or --token-stdin, not both');
  if (o.fingerprint) {
    const f = o.fingerprint.toLowerCase();
    if (!FINGERPRINT_PATTERN.test(f)) throw new UsageError('--fingerprint takes 16 hex characters (the first 16 of the SHA-256 of the token); for a token itself use --token-stdin');
    return f;
  }
  if (!o.tokenStdin) return undefined;
  const token = (await readStdin()).trim();
  if (!token) throw new UsageError('--token-stdin: stdin was empty');
  return tokenFingerprint(token);
}

/** Every page (or the first `limit` items), with the running count as progress on a terminal. */
async function collectPages<T>(io: Io, label: string, limit: number | undefined, page: (cursor: string | undefined) => Promise<{ items: T[]; next?: string | undefined }>): Promise<T[]> {
  const p = progress(io, label);
  const all: T[] = [];
  let cursor: string | undefined;
  try {
    do {
      const got = await page(cursor);
      all.push(...got.items);
      p.update(all.length);
      cursor = limit !== undefined && all.length >= limit ? undefined : got.next;
    } while (cursor);
  } finally {
    p.done();
  }
  return limit === undefined ? all : all.slice(0, limit);
}

const when = (at: string | number, now: number) => {
  const t = typeof at === 'number' ? at : Date.parse(at);
  return Number.isFinite(t) ? `${relative(t, now)}` : '-';
};

function auditTable(events: AuditEvent[], empty: string): string {
  const now = Date.now();
  return table(
    ['AT', 'ACTION', 'ACCOUNT', 'CALLER', 'OUTCOME', 'GEN', 'FINGERPRINT', 'COUNT'],
    events.map((e) => [`${e.at} (${relative(Date.parse(e.at), now)})`, e.action, e.account ?? '-', e.caller, e.outcome, e.generation === undefined ? '-' : String(e.generation), e.token_fingerprint ?? '-', e.count === undefined ? '-' : String(e.count)]),
    empty,
  );
}

const newestFirst = (events: AuditEvent[]) => [...events].sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
const eventKey = (e: AuditEvent) => JSON.stringify([e.at, e.action, e.account, e.caller, e.outcome, e.generation, e.token_fingerprint, e.count]);

/**
 * `audit --follow`: the latest events, oldest of them first, then every new one as it appears
 * (one JSON object a line with --json). Asks with `since` the newest time seen; events already
 * printed are not printed again.
 */
async function follow(io: Io, conn: Connection, tenant: string, query: AuditQuery, first: AuditEvent[], matches: (e: AuditEvent) => boolean, asJson: boolean, intervalMs: number): Promise<void> {
  const seen = new Set<string>();
  const emit = (events: AuditEvent[]) => {
    for (const e of [...events].reverse()) {
      const key = eventKey(e);
      if (seen.has(key)) continue;
      seen.add(key);
      io.out(asJson ? JSON.stringify(e) + '\n' : auditRow(e));
    }
  };
  if (!asJson) io.out(`AT                        ACTION           ACCOUNT          CALLER           OUTCOME\n`);
  emit(first);
  let since = first[0]?.at ?? query.since ?? new Date().toISOString();
  if (io.errIsTty) io.err('following the audit trail… (Ctrl-C stops)\n');
  const stopped = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  for (;;) {
    const tick = await Promise.race([stopped.then(() => 'stop' as const), sleep(intervalMs).then(() => 'tick' as const)]);
    if (tick === 'stop') return;
    try {
      // every page since the newest event seen, newest first, until one holds nothing new
      const fresh: AuditEvent[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const page = await conn.api.audit(tenant, { ...query, since, limit: 200, ...(cursor ? { cursor } : {}) });
        const unseen = page.events.filter((e) => matches(e) && !seen.has(eventKey(e)));
        fresh.push(...unseen);
        cursor = page.next;
        if (!cursor || unseen.length === 0) break;
      }
      const ordered = newestFirst(fresh);
      emit(ordered);
      if (ordered[0]) since = ordered[0].at;
    } catch (err) {
      // a broker that may answer in a moment is asked again; anything else ends the follow
      if (exitCodeOf(err) !== EXIT.unavailable) throw err;
      io.err(`(${err instanceof Error ? err.message : String(err)}; asking again)\n`);
    }
  }
}

function auditRow(e: AuditEvent): string {
  const cols = [e.at.padEnd(24), e.action.padEnd(15), (e.account ?? '-').padEnd(15), e.caller.padEnd(15), e.outcome, e.token_fingerprint ? `fp ${e.token_fingerprint}` : '', e.count !== undefined ? `×${e.count}` : ''];
  return cols.join('  ').trimEnd() + '\n';
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
