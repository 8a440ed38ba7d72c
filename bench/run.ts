// `npm run bench [name...]`: runs each bench/<name>.bench.ts in its own process, one after another,
// so one benchmark's memory and caches do not colour the next. Every bench prints its ratios
// beside their targets (MET / NOT MET) and ends with a `<name> bench: ...` line; those lines are
// repeated at the end, so the last screen says plainly which targets are met.
import { readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();
if (benches.length === 0) {
  console.error(`no benchmark matches ${wanted.join(' ')}`);
  process.exit(2);
}
let failed = 0;
const summary: string[] = [];
for (const file of benches) {
  console.log(`\n=== ${file}`);
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, file)], { stdio: ['ignore', 'pipe', 'inherit'] });
  for await (const line of createInterface({ input: child.stdout })) {
    console.log(line);
    if (/^[\w-]+ bench: /.test(line) || /NOT MET/.test(line)) summary.push(line);
  }
  const code: number = child.exitCode ?? (await new Promise((resolve) => child.once('exit', (c) => resolve(c ?? 1))));
  if (code !== 0) {
    failed++;
    summary.push(`${file}: exited with status ${code}`);
  }
}
if (summary.length > 0) console.log(`\n=== summary\n${summary.join('\n')}`);
process.exit(failed === 0 ? 0 : 1);
