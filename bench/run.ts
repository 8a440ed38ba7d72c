// `npm run bench [name...]`: runs each bench/<name>.bench.ts in its own process, one after another,
// so one benchmark's memory and caches do not colour the next. Every bench prints its ratios
// beside their targets (MET / NOT MET) and ends with a `<name> bench: ...` line; those lines are
// repeated at the end, so the last screen says plainly which targets are met. Benches that judge
// a target of issue 15 also print `TARGET {json}` rows (report.ts): they are gathered into one
// table, printed last (value, in-run baseline, ratio, target, met, load average).
import { readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseTarget, targetTable, type TargetRow } from './report.js';

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
const targets: TargetRow[] = [];
for (const file of benches) {
  console.log(`\n=== ${file}`);
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, file)], { stdio: ['ignore', 'pipe', 'inherit'] });
  for await (const line of createInterface({ input: child.stdout })) {
    const t = parseTarget(line);
    if (t) {
      targets.push(t);
      continue;
    }
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
if (targets.length > 0) {
  const n = (met: boolean | null) => targets.filter((t) => t.met === met).length;
  const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
  console.log(`\n=== issue 15 targets (${when} UTC): ${n(true)} met, ${n(false)} NOT MET, ${n(null)} informational\n${targetTable(targets)}`);
}
process.exit(failed === 0 ? 0 : 1);
