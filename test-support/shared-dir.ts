// Where the project's shared reference material lives: `shared/` beside the repository (as CI
// lays it out), or FLIPSIDE_SHARED_DIR. Tests read the conformance vectors and recordings from it.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const SHARED_DIR = process.env.FLIPSIDE_SHARED_DIR ?? fileURLToPath(new URL('../../shared', import.meta.url));
export const CONFORMANCE_DIR = join(SHARED_DIR, 'conformance', 'mender-artifact-4.0.0');
export const REFERENCE_DIR = join(SHARED_DIR, 'reference');
