/**
 * `npm run console -- --url <API URL> [--region …] [--port …]`: the operator console for a
 * deployment in AWS, on 127.0.0.1, signing its API calls with your AWS credentials (SigV4).
 */
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Command, InvalidArgumentError } from 'commander';
import { regionOfApiUrl } from '../client/auth.js';
import { startConsoleProxy } from '../console/proxy.js';

const program = new Command('npm run console --')
  .description('Serve the operator console on 127.0.0.1 and sign its API calls with your AWS credentials (default provider chain, SigV4).')
  .requiredOption('--url <url>', 'the API base URL with its stage, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/prod')
  .option('--region <region>', 'the API region (default: read from an execute-api URL; needed for a custom domain)')
  .option('--port <port>', 'local port (default: a free one)', (v) => {
    if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new InvalidArgumentError('a port number from 0 to 65535');
    return Number(v);
  })
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program.parse();
const options = program.opts<{ url: string; region?: string; port?: number }>();
const region = options.region ?? regionOfApiUrl(options.url);
if (!region) {
  console.error(`error: cannot tell the region from ${options.url}; pass --region (e.g. --region eu-west-1)`);
  process.exit(2);
}

// the default chain, resolved once now so that missing credentials are said before a browser is opened
const credentials = defaultProvider();
try {
  await credentials();
} catch (err) {
  console.error(`error: no AWS credentials: ${err instanceof Error ? err.message.split('\n', 1)[0] : String(err)}`);
  console.error('  sign in first (aws sso login, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), then run this again');
  process.exit(3);
}

try {
  const proxy = await startConsoleProxy({ apiUrl: options.url, region, credentials, ...(options.port !== undefined ? { port: options.port } : {}) });
  console.log(`longport-token-broker console — ${options.url} (${region}), signed with your AWS credentials`);
  console.log(`  open this URL once (it signs you in, then the address is clean):`);
  console.log(`  ${proxy.signInUrl}`);
  console.log(`  Ctrl-C stops it.`);
  const stop = async () => {
    await proxy.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof Error && /--url|port/.test(err.message) ? 2 : 1);
}
