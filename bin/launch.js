// Shared by the bin/ wrappers: runs a CLI module's `main(argv)` straight from the TypeScript
// source through tsx, so the CLIs find their boards, boot scripts and assets beside their code
// exactly as the tests do. (The device client is different: it ships as one esbuild bundle.)
import { register } from 'tsx/esm/api';

export async function launch(modulePath) {
  register();
  const { main } = await import(new URL(`../${modulePath}.ts`, import.meta.url).href);
  const code = await main(process.argv.slice(2));
  process.exitCode = typeof code === 'number' ? code : 0;
}
