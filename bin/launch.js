// Shared by the bin/ wrappers: runs a CLI module's `main(argv)` from the compiled tree
// (`npm ci` builds it through `prepare`), and says how to build it when it is missing.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function launch(modulePath) {
  const compiled = join(root, 'dist', `${modulePath}.js`);
  if (!existsSync(compiled)) {
    console.error(`flipside: ${compiled} is missing; run \`npm run build\` in ${root} first`);
    process.exit(70);
  }
  const { main } = await import(pathToFileURL(compiled).href);
  const code = await main(process.argv.slice(2));
  process.exitCode = typeof code === 'number' ? code : 0;
}
