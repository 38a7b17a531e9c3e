/**
 * `npm run simulator`: the LongPort OAuth simulator on its own, for trying the broker without a
 * LongPort account: start it, then `LONGPORT_ISSUER=<printed issuer> npm start` in another terminal.
 */
import { startLongPortSimulator } from '../simulator/longport-simulator.js';

const port = Number(process.env.SIMULATOR_PORT ?? 9010);
const sim = await startLongPortSimulator({ port });
console.log('LongPort simulator (OAuth 2.0 authorization server + get_security_list)');
console.log(`  issuer    ${sim.issuer}`);
console.log(`  discovery ${sim.issuer}/.well-known/oauth-authorization-server`);
console.log('');
console.log(`  start the broker against it:  LONGPORT_ISSUER=${sim.issuer} npm start`);
console.log('  Ctrl-C stops.');
const stop = async () => {
  await sim.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
