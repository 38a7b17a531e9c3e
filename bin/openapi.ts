/**
 * `npm run openapi`: writes the OpenAPI 3.1 document of the route table to lib/http/openapi.json,
 * which the `meta` function serves. Run it after changing a route or a schema; `npm test` fails
 * while the written document and the table disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { openApiDocument } from '../lib/http/openapi.js';

export const OPENAPI_PATH = new URL('../lib/http/openapi.json', import.meta.url);
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
writeFileSync(OPENAPI_PATH, JSON.stringify(openApiDocument(version), null, 2) + '\n');
console.log(`wrote ${OPENAPI_PATH.pathname}`);
