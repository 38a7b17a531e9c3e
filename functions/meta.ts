import { handle } from 'hono/aws-lambda';
import { buildApp } from '../lib/http/app.js';
import { allGroups } from '../lib/http/routes/index.js';
import { createLogger } from '../lib/log.js';

/** `GET /healthz` and `GET /openapi.json`: public, no dependencies. */
const log = createLogger({ base: { service: 'longport-token-broker' } });
const meta = allGroups[allGroups.length - 1]!;
export const handler = handle(buildApp(() => { throw new Error('meta routes use no dependencies'); }, [meta], { log }));
