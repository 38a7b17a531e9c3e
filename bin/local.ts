/**
 * `npm start`: the broker in local mode — DynamoDB Local, a local key instead of KMS, the HTTP API on
 * 127.0.0.1:$PORT and the refresher on a timer. Ctrl-C stops everything; data stays in $BROKER_DATA_DIR.
 */
import { ConfigError } from '../lib/config.js';
import { DataDirInUseError } from '../local/data-dir-lock.js';
import { JavaMissingError } from '../local/dynamodb-local.js';
import { batchedSink, createLogger } from '../lib/log.js';
import { startLocalBroker } from '../local/local-broker.js';

const isTty = process.stdout.isTTY;
const dim = (s: string) => (isTty ? `\x1b[2m${s}\x1b[0m` : s);
const bold = (s: string) => (isTty ? `\x1b[1m${s}\x1b[0m` : s);

/**
 * Log lines stay JSON (greppable, the same as in AWS), dimmed on a terminal so progress stands out;
 * the lines of one turn of the event loop are written together.
 */
const toStdout = batchedSink((chunk) => process.stdout.write(chunk));
const log = createLogger({ sink: (line) => toStdout(dim(line)), level: process.env.BROKER_LOG_LEVEL === 'debug' ? 'debug' : 'info' });

/**
 * The AWS SDK's releases after the first week of January 2027 need this Node.js major or newer. On
 * an older Node.js the SDK says so in an eight-line warning, in the middle of the banner; the banner
 * says it in one line instead (unless the SDK's warning was switched off already).
 */
const AWS_SDK_NODE_MAJOR = 22;

function nodeNotice(): string | undefined {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= AWS_SDK_NODE_MAJOR || process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === 'true') return undefined;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  return `Node.js ${process.versions.node} runs local mode; AWS SDK releases after the first week of January 2027 need Node.js ${AWS_SDK_NODE_MAJOR} or newer (https://a.co/c895JFp)`;
}

async function main(): Promise<void> {
  console.log(bold('longport-token-broker — local mode'));
  const notice = nodeNotice();
  if (notice) console.log(`  ! ${notice}`);
  const broker = await startLocalBroker({ log, progress: (line) => console.log(`  ✓ ${line}`) });
  const { config } = broker.deps;
  console.log(`  ✓ ${adminTokenLine(broker.adminToken, broker.adminTokenFile)}`);
  console.log(`  ✓ issuers: global ${config.issuers.global}, cn ${config.issuers.cn}`);
  console.log(`  ✓ refresher every ${config.refreshIntervalS} s`);
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
  process.on('SIGHUP', () => void stop('SIGHUP'));
}

/** Characters of the admin token the banner shows: enough to tell two tokens apart, far too few to use one. */
const SHOWN_CHARS = 4;

/**
 * The banner names the admin token's file and at most its first few characters, and never prints a
 * token that came from the environment (issue 12): a terminal's scrollback, a screen share or a CI
 * log must not hand out the key to every /v1 route.
 */
function adminTokenLine(token: string, file: string | undefined): string {
  if (file === undefined) return 'admin token: from BROKER_ADMIN_TOKEN (not shown)';
  return `admin token: ${token.slice(0, SHOWN_CHARS)}… in ${file}   (export BROKER_ADMIN_TOKEN=$(cat ${file}))`;
}

main().catch((err: unknown) => {
  if (err instanceof JavaMissingError || err instanceof ConfigError || err instanceof DataDirInUseError) {
    console.error(`\n  ✗ ${err.message}\n`);
  } else {
    console.error('\n  ✗ could not start:', err instanceof Error ? err.message : err);
  }
  process.exit(1);
});
