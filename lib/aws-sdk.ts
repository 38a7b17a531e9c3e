import { createRequire } from 'node:module';

/**
 * The AWS SDK for JavaScript v3, loaded with `require`: the one place the broker's code takes the
 * SDK's classes from (types still come from the packages themselves, `import type`).
 *
 * Why not `import`: the SDK's packages are CommonJS, and every function bundle is an ES module
 * (its init awaits the after-response extension). Node answers an `import` of a CommonJS file by
 * first scanning its source for export names (cjs-module-lexer), then loading it as CommonJS as well,
 * for each of the ~30 files a client pulls in. `require` skips the scan: on the bench machine the
 * DynamoDB, document and KMS packages load in about 80 ms instead of about 170 ms, most of a cold
 * start (`npm run bench`, `init_ms`). The classes are the very ones an `import` gives (one module
 * cache), so aws-sdk-client-mock and `instanceof` see no difference.
 *
 * esbuild leaves these calls alone (`load` is not the free `require`), so the bundles keep the SDK
 * external, as the Lambda runtime provides it.
 */
const load = createRequire(import.meta.url);

export const dynamodbSdk = load('@aws-sdk/client-dynamodb') as typeof import('@aws-sdk/client-dynamodb');
export const documentSdk = load('@aws-sdk/lib-dynamodb') as typeof import('@aws-sdk/lib-dynamodb');
export const dynamodbUtil = load('@aws-sdk/util-dynamodb') as typeof import('@aws-sdk/util-dynamodb');
export const kmsSdk = load('@aws-sdk/client-kms') as typeof import('@aws-sdk/client-kms');

/** EventBridge is loaded on first use: a function publishes events only now and then, after its answers. */
export const eventBridgeSdk = (): typeof import('@aws-sdk/client-eventbridge') => load('@aws-sdk/client-eventbridge') as typeof import('@aws-sdk/client-eventbridge');
