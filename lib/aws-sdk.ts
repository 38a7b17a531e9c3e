import { createRequire } from 'node:module';
import type * as Classes from './aws-sdk-classes.js';
import type * as EventBridgeClasses from './aws-sdk-eventbridge.js';

/**
 * The AWS SDK for JavaScript v3 as the broker's code uses it: the classes named in
 * lib/aws-sdk-classes.ts (and lib/aws-sdk-eventbridge.ts, loaded on first use), from one of two places.
 * - A deployed function: the broker's AWS SDK layer (infra/aws-sdk-layer.ts), each module built
 *   into a tree-shaken, minified CommonJS file of one package, `require`d by name (the EventBridge
 *   one as `<package>/eventbridge`). Lambda resolves it from the layer (`/opt/nodejs/node_modules`,
 *   on `NODE_PATH`), as any `require` from a layer.
 *   The function bundles name those modules: esbuild replaces `BROKER_AWS_SDK_PACKAGE` and
 *   `BROKER_AWS_SDK_EVENTBRIDGE` (infra/bundling.ts), and drops the other branches, so no bundle
 *   holds any of the SDK.
 * - Everywhere else (local mode, tests, tools): those modules themselves, which import the
 *   packages from node_modules. Same classes as the tests' own imports of the packages (one module
 *   cache), so aws-sdk-client-mock and `instanceof` see no difference.
 *
 * Why a layer and not the SDK the Lambda runtime ships: the runtime's SDK is about 1 MB in 34
 * files, resolved and compiled at every cold start (about 120–160 ms on the bench machine); the
 * layer's main file holds only what the broker uses (about 40–60 ms), and it is the SDK version
 * package-lock.json pins and the tests ran, not whichever the runtime ships that month.
 */
declare const BROKER_AWS_SDK_PACKAGE: string | undefined;
declare const BROKER_AWS_SDK_EVENTBRIDGE: string | undefined;

const load = createRequire(import.meta.url);
const sdk: typeof Classes = typeof BROKER_AWS_SDK_PACKAGE === 'string' ? (load(BROKER_AWS_SDK_PACKAGE) as typeof Classes) : await import('./aws-sdk-classes.js');

export const dynamodbSdk = sdk.dynamodb;
export const documentSdk = sdk.document;
export const dynamodbUtil = sdk.util;
export const kmsSdk = sdk.kms;
/** EventBridge is loaded on first use: a function publishes events only now and then, after its answers. */
export const eventBridgeSdk = async (): Promise<typeof EventBridgeClasses> =>
  typeof BROKER_AWS_SDK_EVENTBRIDGE === 'string' ? (load(BROKER_AWS_SDK_EVENTBRIDGE) as typeof EventBridgeClasses) : await import('./aws-sdk-eventbridge.js');
