import { handle } from 'hono/aws-lambda';
import { buildApp } from '../lib/http/app.js';
import { tokenRoutes } from '../lib/http/routes/token.js';
import { lambdaDeps } from '../lib/runtime/aws.js';

/** `GET …/accounts/{account}/token`: a valid access token, refreshed first when needed. */
lambdaDeps();
export const handler = handle(buildApp(lambdaDeps, [tokenRoutes]));
