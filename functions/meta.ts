import { metaApp } from '../lib/http/routes/meta-app.js';
import { lambdaHttpHandler } from '../lib/runtime/lambda.js';

/** `GET /healthz` and `GET /openapi.json`: public, and nothing of the broker is loaded. */
export const handler = lambdaHttpHandler(metaApp());
