import { handle } from 'hono/aws-lambda';
import { buildApp } from '../lib/http/app.js';
import { tenantRoutes } from '../lib/http/routes/tenants.js';
import { lambdaDeps } from '../lib/runtime/aws.js';

/** `PUT|GET /v1/tenants/{tenant}`: tenant registration and settings. */
lambdaDeps();
export const handler = handle(buildApp(lambdaDeps, [tenantRoutes]));
