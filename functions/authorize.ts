import { linkRoutes } from '../lib/http/routes/links.js';
import { brokerLambda } from '../lib/runtime/broker-lambda.js';

/** `POST …/accounts/{account}/link` and `GET /oauth/authorize`: creating and starting link flows. */
export const handler = brokerLambda(linkRoutes);
