import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/** The envelope-encryption calls a function may be granted (never `kms:*`). */
export type KeyAction = 'GenerateDataKey' | 'Decrypt';

/** The encryption-context keys every broker call carries (lib/crypto/token-cipher.ts). */
export const ENCRYPTION_CONTEXT_KEYS = ['tenant', 'account', 'purpose'] as const;

/**
 * The customer-managed key that wraps the per-record data keys of tokens and client secrets.
 *
 * - Rotation on (yearly); old key material stays available for decryption, so nothing re-encrypts.
 * - Key policy: the CDK default, which delegates to IAM in this account (principal `:root`, no
 *   wildcard principal). Functions get access only through the conditioned identity policies below.
 * - RETAIN with the longest pending window: deleting the key makes every stored token unreadable.
 */
export class TokenKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'LongPort token broker: wraps per-record data keys; every use carries the context {tenant, account, purpose}',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });
  }

  get keyArn(): string {
    return this.key.keyArn;
  }

  /**
   * Allows `actions` on this key only for requests whose encryption context holds nothing but
   * `tenant`, `account` and `purpose`, and holds all three. `ForAllValues` alone would also match a
   * request with no context at all, hence the `Null` conditions.
   */
  grantEnvelope(grantee: iam.IGrantable, actions: readonly KeyAction[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: actions.map((a) => `kms:${a}`),
      resourceArns: [this.key.keyArn],
      conditions: {
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [...ENCRYPTION_CONTEXT_KEYS] },
        Null: Object.fromEntries(ENCRYPTION_CONTEXT_KEYS.map((k) => [`kms:EncryptionContext:${k}`, 'false'])),
      },
    });
  }
}
