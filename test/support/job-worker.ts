/**
 * One broker process that starts a long tenant operation and keeps working on it in the background
 * until it is killed: it builds the broker against the shared table, key and simulators named in
 * its environment (real clock), sends WORKER_METHOD WORKER_PATH (JSON WORKER_BODY) through the
 * HTTP app, prints `status <code>` and stays alive, its background work going on.
 */
import { need, workerBroker } from './worker-broker.js';

const { config, app } = workerBroker();

const res = await app.request(`http://localhost:8787${need('WORKER_PATH')}`, {
  method: need('WORKER_METHOD'),
  headers: { authorization: `Bearer ${config.local.adminToken}`, 'content-type': 'application/json' },
  ...(process.env.WORKER_BODY ? { body: process.env.WORKER_BODY } : {}),
});
process.stdout.write(`status ${res.status}\n`);
// the job goes on in this process's background; the process stays until the test kills it
setInterval(() => {}, 60_000);
