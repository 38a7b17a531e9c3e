import { handle } from 'hono/aws-lambda';
import { buildApp } from '../lib/http/app.js';
import { linkRoutes } from '../lib/http/routes/links.js';
import { oauthRoutes } from '../lib/http/routes/oauth.js';
import { lambdaDeps } from '../lib/runtime/aws.js';

/** `POST …/accounts/{account}/link` and `GET /oauth/authorize`: creating and starting link flows. */
lambdaDeps();
export const handler = handle(buildApp(lambdaDeps, [linkRoutes, oauthRoutes]));
