import { handle } from 'hono/aws-lambda';
import { buildApp } from '../lib/http/app.js';
import { accountRoutes } from '../lib/http/routes/accounts.js';
import { lambdaDeps } from '../lib/runtime/aws.js';

/** `GET …/accounts`, `GET|DELETE …/accounts/{account}`, `GET …/audit`: account administration and the audit trail. */
lambdaDeps();
export const handler = handle(buildApp(lambdaDeps, [accountRoutes]));
