/**
 * `npm start`: the broker in local mode — DynamoDB Local, a local key instead of KMS, the HTTP API on
 * 127.0.0.1:$PORT and the refresher on a timer. Ctrl-C stops everything; data stays in $BROKER_DATA_DIR.
 */
import { ConfigError } from '../lib/config.js';
import { JavaMissingError } from '../local/dynamodb-local.js';
import { createLogger } from '../lib/log.js';
import { startLocalBroker } from '../local/local-broker.js';

const isTty = process.stdout.isTTY;
const dim = (s: string) => (isTty ? `\x1b[2m${s}\x1b[0m` : s);
const bold = (s: string) => (isTty ? `\x1b[1m${s}\x1b[0m` : s);

/** Log lines stay JSON (greppable, the same as in AWS), dimmed on a terminal so progress stands out. */
const log = createLogger({ sink: (line) => process.stdout.write(dim(line) + '\n'), level: process.env.BROKER_LOG_LEVEL === 'debug' ? 'debug' : 'info' });

async function main(): Promise<void> {
  console.log(bold('longport-token-broker — local mode'));
  const broker = await startLocalBroker({ log, progress: (line) => console.log(`  ✓ ${line}`) });
  const { config } = broker.deps;
  console.log(`  ✓ admin token: ${broker.adminToken}`);
  console.log(`      (kept in ${config.local.dataDir}/admin.token; export BROKER_ADMIN_TOKEN=$(cat ${config.local.dataDir}/admin.token))`);
  console.log(`  ✓ issuers: global ${config.issuers.global}, cn ${config.issuers.cn}`);
  console.log(`  ✓ refresher every ${config.local.refreshIntervalS} s`);
  console.log('');
  console.log(`  ${bold(`listening on ${broker.url}`)}   public URL ${broker.publicUrl}`);
  console.log(`  try: curl ${broker.url}/healthz   ·   API document: ${broker.url}/openapi.json`);
  console.log(`  Ctrl-C stops.`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n  ${signal}: stopping …`);
    await broker.stop();
    console.log('  stopped; data kept in ' + config.local.dataDir);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  if (err instanceof JavaMissingError || err instanceof ConfigError) {
    console.error(`\n  ✗ ${err.message}\n`);
  } else {
    console.error('\n  ✗ could not start:', err instanceof Error ? err.message : err);
  }
  process.exit(1);
});
