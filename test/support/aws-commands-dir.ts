/** Where each test file writes the AWS actions its Lambda functions sent (see aws-commands.ts). */
export const RECORDINGS_DIR = new URL('../.tmp/aws-commands/', import.meta.url);
