// Loads the scenario files under scenarios/ (one default export per file, from defineScenario).
import { readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { SCENARIOS_DIR } from '../../paths.js';
import type { ScenarioDefinition } from './define.js';

export async function loadScenarios(dir: string = SCENARIOS_DIR): Promise<ScenarioDefinition[]> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
    .sort();
  const defs: ScenarioDefinition[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { default?: ScenarioDefinition };
    if (!mod.default || typeof mod.default.run !== 'function') throw new Error(`${join(dir, f)}: no default export from defineScenario()`);
    defs.push(mod.default);
  }
  const seen = new Set<string>();
  for (const d of defs) {
    if (seen.has(d.name)) throw new Error(`two scenarios are named ${d.name}`);
    seen.add(d.name);
  }
  return defs;
}
