/**
 * `npm run simulator [-- --port N]`: the LongPort OAuth simulator on its own, for trying the broker
 * without a LongPort account: start it, then `LONGPORT_ISSUER=<printed issuer> npm start` in another
 * terminal. The first line printed is `issuer <url>`, so scripts can read it; `--port 0` picks a free port.
 */
import { parseArgs } from 'node:util';
import { startLongPortSimulator } from '../simulator/longport-simulator.js';

const USAGE = 'usage: npm run simulator -- [--port N] [--host ADDRESS] [--confidential]';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    confidential: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const port = Number(values.port ?? process.env.SIMULATOR_PORT ?? 9010);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`--port must be a port number (0 for a free one), not ${values.port}\n${USAGE}`);
  process.exit(2);
}

const sim = await startLongPortSimulator({ port, ...(values.host ? { host: values.host } : {}), ...(values.confidential ? { clientType: 'confidential' } : {}) });
console.log(`issuer ${sim.issuer}`);
console.log('');
console.log('LongPort simulator (OAuth 2.0 authorization server + get_security_list)');
console.log(`  discovery  ${sim.url}/.well-known/oauth-authorization-server`);
console.log(`  clients    ${values.confidential ? 'confidential (client_secret_basic)' : 'public (PKCE, no secret)'}`);
console.log('');
console.log(`  start the broker against it:  LONGPORT_ISSUER=${sim.issuer} npm start`);
console.log('  Ctrl-C stops.');
const stop = async () => {
  await sim.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
