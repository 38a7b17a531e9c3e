import { join } from 'node:path';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { buildSync } from 'esbuild';
import type { Construct } from 'constructs';
import { assertLocalEsbuild, awsSdkLayerBuild, LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, PROJECT_ROOT } from './bundling.js';

/** Builds the layer's content into `root` (its root, `/opt` once deployed) and answers it. */
export function buildAwsSdkLayer(root: string): string {
  assertLocalEsbuild();
  buildSync(awsSdkLayerBuild(root));
  return root;
}

/**
 * The broker's AWS SDK layer: the SDK classes the broker uses (lib/aws-sdk-classes.ts) in one
 * minified file, EventBridge's (lib/aws-sdk-eventbridge.ts) in another, at the versions
 * package-lock.json pins, for every function that talks to AWS.
 *
 * Built by the local esbuild when the stack is synthesized, as the functions are: CDK gives the
 * build a directory of its own under `cdk.out` and names the asset by what was built. Docker is
 * never used (the image below is never pulled: the local build either succeeds or throws). `code`
 * replaces it (tests that synthesize without bundling).
 */
export function awsSdkLayer(scope: Construct, id: string, code?: lambda.Code): lambda.LayerVersion {
  return new lambda.LayerVersion(scope, id, {
    code:
      code ??
      lambda.Code.fromAsset(join(PROJECT_ROOT, 'lib'), {
        assetHashType: AssetHashType.OUTPUT,
        bundling: {
          image: DockerImage.fromRegistry('local-esbuild-only'),
          local: {
            tryBundle(outputDir) {
              buildAwsSdkLayer(outputDir);
              return true;
            },
          },
        },
      }),
    compatibleRuntimes: [LAMBDA_RUNTIME],
    compatibleArchitectures: [LAMBDA_ARCHITECTURE],
    description: 'LongPort token broker: the AWS SDK for JavaScript v3 classes its functions use, tree-shaken and minified',
  });
}
