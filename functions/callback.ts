import { handle } from 'hono/aws-lambda';
import { buildApp } from '../lib/http/app.js';
import { oauthRoutes } from '../lib/http/routes/oauth.js';
import { lambdaDeps } from '../lib/runtime/aws.js';

/** `GET /oauth/callback`: the provider's redirect back; exchanges the code and stores the tokens. */
lambdaDeps();
export const handler = handle(buildApp(lambdaDeps, [oauthRoutes]));
