import { Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

/**
 * cdk-nag's AwsSolutions pack on every synth. cdk-nag v3 is a CDK validation plugin (not an
 * aspect): an unacknowledged error fails synthesis. Each acknowledgement
 * (`Validations.of(construct).acknowledge({ id, reason })`, next to the resource it concerns) is
 * also written into that resource's template Metadata (`cdk_nag.rules_to_suppress`), so the
 * template a reviewer reads carries every reason.
 */
export function addSecurityChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }));
}
