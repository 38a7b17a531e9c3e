import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { buildSync } from 'esbuild';
import type { Construct } from 'constructs';
import { assertLocalEsbuild, awsSdkLayerBuild, LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME } from './bundling.js';

/** Builds the layer's content into a new directory (its root, `/opt` once deployed) and answers it. */
export function buildAwsSdkLayer(root: string = mkdtempSync(join(tmpdir(), 'broker-aws-sdk-layer-'))): string {
  assertLocalEsbuild();
  buildSync(awsSdkLayerBuild(root));
  return root;
}

/**
 * The broker's AWS SDK layer: the SDK classes the broker uses (lib/aws-sdk-classes.ts) in one
 * minified file, EventBridge's (lib/aws-sdk-eventbridge.ts) in another, at the versions
 * package-lock.json pins, for every function that talks to AWS.
 * Built by the local esbuild at synth time; `code` replaces it (tests that synthesize without
 * bundling).
 */
export function awsSdkLayer(scope: Construct, id: string, code?: lambda.Code): lambda.LayerVersion {
  return new lambda.LayerVersion(scope, id, {
    code: code ?? lambda.Code.fromAsset(buildAwsSdkLayer()),
    compatibleRuntimes: [LAMBDA_RUNTIME],
    compatibleArchitectures: [LAMBDA_ARCHITECTURE],
    description: 'LongPort token broker: the AWS SDK for JavaScript v3 classes its functions use, tree-shaken and minified',
  });
}
