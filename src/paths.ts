// Where the package's own files (shipped mappings, samples) are, wherever it is run from.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cdsr-adapter: package.json not found above the running code');
    dir = up;
  }
  return dir;
}

export const PACKAGE_ROOT = findPackageRoot();
export const SHIPPED_MAPPINGS_DIR = join(PACKAGE_ROOT, 'mappings');
