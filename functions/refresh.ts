import { handle } from 'hono/aws-lambda';
import { buildApp } from '../lib/http/app.js';
import { refreshRoutes } from '../lib/http/routes/token.js';
import { lambdaDeps } from '../lib/runtime/aws.js';

/** `POST …/accounts/{account}/refresh`: forces a refresh now. */
lambdaDeps();
export const handler = handle(buildApp(lambdaDeps, [refreshRoutes]));
