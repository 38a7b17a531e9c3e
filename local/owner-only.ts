import { chmod, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Local data files are readable by their owner only (issue 12): `dir` becomes 0700, every file
 * under it 0600 and every directory 0700, whoever made them and whenever (a data directory made by
 * an older broker, with 0644 files in a 0755 directory, is fixed at the next start). Symbolic
 * links are left alone, and not followed.
 */
export async function ownerOnly(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isFile()) await chmod(join(dir, entry.name), 0o600);
    else if (entry.isDirectory()) await ownerOnly(join(dir, entry.name));
  }
}
