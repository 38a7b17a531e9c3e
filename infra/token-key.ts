import { DefaultStackSynthesizer, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/** The envelope-encryption calls a function may be granted (never `kms:*`). */
export type KeyAction = 'GenerateDataKey' | 'Decrypt';

/** The encryption-context keys every broker call carries (lib/crypto/token-cipher.ts). */
export const ENCRYPTION_CONTEXT_KEYS = ['tenant', 'account', 'purpose'] as const;

/** The variable lib/config.ts reads the key from. */
export const KEY_ENV = 'BROKER_KMS_KEY_ID';

/**
 * What a key administrator may do: manage the key's life, policy, rotation, tags and aliases.
 * Nothing that uses key material (Encrypt, Decrypt, ReEncrypt*, GenerateDataKey*) and no
 * CreateGrant (a grant could hand those out without changing the policy).
 */
export const KEY_ADMIN_ACTIONS = [
  'kms:DescribeKey',
  'kms:GetKeyPolicy',
  'kms:GetKeyRotationStatus',
  'kms:ListKeyPolicies',
  'kms:ListKeyRotations',
  'kms:ListGrants',
  'kms:ListResourceTags',
  'kms:PutKeyPolicy',
  'kms:EnableKeyRotation',
  'kms:DisableKeyRotation',
  'kms:RotateKeyOnDemand',
  'kms:UpdateKeyDescription',
  'kms:EnableKey',
  'kms:DisableKey',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
  'kms:RevokeGrant',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:CreateAlias',
  'kms:UpdateAlias',
  'kms:DeleteAlias',
] as const;

/** Actions that use the key's material: only the broker's function roles may hold them. */
export const KEY_USE_ACTIONS = ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:CreateGrant'] as const;

export interface TokenKeyProps {
  /**
   * Use this existing key instead of creating one (a stack that adopts the data of an earlier
   * one). The stack cannot change that key's policy: grants become identity policies, which work
   * only if the key policy lets IAM policies of this account apply or names the function roles
   * (docs/deploy.md, "Data that survives the stack").
   */
  existingKeyArn?: string;
  /** More key administrators (ARNs), besides the role CloudFormation deploys with. */
  adminArns?: string[];
  /**
   * The break-glass role (ARN): a key administrator kept for emergencies. Without one, the stack
   * creates `KeyBreakGlassRole`, assumable by this account's principals with MFA only.
   */
  breakGlassRoleArn?: string;
}

/**
 * The customer-managed key that wraps the per-record data keys of tokens and client secrets.
 *
 * Key policy (CDK's default, `kms:*` for the account root, is replaced):
 * - **administration** for the role CloudFormation deploys with (so every later deploy can still
 *   update the key, and KMS's lockout safety check passes), the named administrators and the
 *   break-glass role: no use of the key material, no grants;
 * - **use** for the broker's function roles only, each with exactly the actions it binds and only
 *   with the encryption context `{tenant, account, purpose}`.
 * No statement names the account root or a wildcard principal, so an IAM policy such as
 * AdministratorAccess cannot decrypt: only changing the key policy can, and that is a logged
 * `PutKeyPolicy` call the stack raises an alarm on (BrokerAlarms.keyPolicyChanged).
 *
 * Rotation on (yearly); RETAIN with the longest pending window (deleting the key makes every stored
 * token unreadable), except when the stack's first deploy fails: then the new, unused key goes.
 */
export class TokenKey extends Construct {
  readonly key: kms.IKey;
  /** The key administrators named in the key policy (empty for an existing key). */
  readonly adminArns: string[] = [];
  readonly breakGlassRole?: iam.IRole;

  constructor(scope: Construct, id: string, props: TokenKeyProps = {}) {
    super(scope, id);
    if (props.existingKeyArn) {
      this.key = kms.Key.fromKeyArn(this, 'Key', props.existingKeyArn);
      return;
    }

    const breakGlass =
      props.breakGlassRoleArn !== undefined
        ? iam.Role.fromRoleArn(this, 'BreakGlassRole', props.breakGlassRoleArn, { mutable: false })
        : new iam.Role(this, 'BreakGlassRole', {
            description: 'LongPort token broker: key administrator for emergencies (MFA); cannot use the key material',
            assumedBy: new iam.AccountPrincipal(Stack.of(this).account).withConditions({ Bool: { 'aws:MultiFactorAuthPresent': 'true' } }),
            maxSessionDuration: Duration.hours(1),
          });
    this.breakGlassRole = breakGlass;
    const deployer = deployRoleArn(this);
    if (deployer === undefined && !props.adminArns?.length) {
      throw new Error('TokenKey: with a synthesizer other than the default one, name the role CloudFormation deploys with in adminArns');
    }
    this.adminArns = [...(deployer ? [deployer] : []), ...(props.adminArns ?? []), breakGlass.roleArn];

    const key = new kms.Key(this, 'Key', {
      description: `LongPort token broker (${Stack.of(this).stackName}): wraps per-record data keys; every use carries the context {tenant, account, purpose}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
      pendingWindow: Duration.days(30),
      // the whole policy: with the default key-policy feature flag, this replaces CDK's root statement
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            sid: 'KeyAdministrationWithoutUse',
            principals: this.adminArns.map((arn) => new iam.ArnPrincipal(arn)),
            actions: [...KEY_ADMIN_ACTIONS],
            resources: ['*'],
          }),
        ],
      }),
    });
    this.key = key;
  }

  get keyArn(): string {
    return this.key.keyArn;
  }

  /** Whether the stack owns the key policy (a key it created) or only identity policies. */
  get ownsPolicy(): boolean {
    return this.key instanceof kms.Key;
  }

  /**
   * Allows `actions` on this key only for requests whose encryption context holds nothing but
   * `tenant`, `account` and `purpose`, and holds all three. `ForAllValues` alone would also match a
   * request with no context at all, hence the `Null` conditions. For the stack's own key this is a
   * key-policy statement naming the role; for an existing key, an identity policy.
   */
  grantEnvelope(grantee: iam.IGrantable, actions: readonly KeyAction[]): void {
    const conditions = {
      'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [...ENCRYPTION_CONTEXT_KEYS] },
      Null: Object.fromEntries(ENCRYPTION_CONTEXT_KEYS.map((k) => [`kms:EncryptionContext:${k}`, 'false'])),
    };
    const kmsActions = actions.map((a) => `kms:${a}`);
    if (this.key instanceof kms.Key) {
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({ principals: [grantee.grantPrincipal], actions: kmsActions, resources: ['*'], conditions }),
      );
    } else {
      iam.Grant.addToPrincipal({ grantee, actions: kmsActions, resourceArns: [this.key.keyArn], conditions });
    }
  }
}

/**
 * The role CloudFormation deploys this stack with (the CDK bootstrap's execution role). It must stay
 * a key administrator: otherwise the next deploy cannot update the key policy, and KMS refuses the
 * policy on creation (lockout safety check).
 */
function deployRoleArn(scope: Construct): string | undefined {
  const synthesizer = Stack.of(scope).synthesizer;
  return synthesizer instanceof DefaultStackSynthesizer ? Fn.sub(synthesizer.cloudFormationExecutionRoleArn) : undefined;
}
