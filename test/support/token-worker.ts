/**
 * One broker process of a multi-process test or benchmark: it builds the broker in-process against
 * the shared table, key and simulator named in its environment, says `ready`, waits for `go` on
 * stdin, fires WORKER_CALLS concurrent token requests through the HTTP app (as WORKER_BEARER, default
 * the admin token; more keys in WORKER_API_KEYS), writes its read counts as a stopping server does,
 * and prints a JSON summary.
 */
import { createInterface } from 'node:readline';
import { need, workerBroker } from './worker-broker.js';

const { config, deps, app } = workerBroker();
const bearer = process.env.WORKER_BEARER || config.local.adminToken;
const calls = Number(need('WORKER_CALLS'));
const path = `/v1/tenants/${need('WORKER_TENANT')}/accounts/${need('WORKER_ACCOUNT')}/token`;

async function fire() {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: calls }, async () => {
      const res = await app.request(`http://localhost:8787${path}`, { headers: { authorization: `Bearer ${bearer}` } });
      const body = (await res.json()) as { access_token?: string; error?: string };
      return { status: res.status, token: body.access_token, error: body.error };
    }),
  );
  await deps.readCounts.flush();
  const statuses: Record<string, number> = {};
  for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  return { statuses, tokens: [...new Set(results.map((r) => r.token).filter(Boolean))], errors: [...new Set(results.map((r) => r.error).filter(Boolean))], ms: performance.now() - started };
}

process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() !== 'go') return;
  lines.close();
  fire().then(
    (summary) => {
      process.stdout.write(JSON.stringify(summary) + '\n');
      process.exit(0);
    },
    (err) => {
      process.stderr.write(String(err) + '\n');
      process.exit(1);
    },
  );
});
