// Loads the scenario files under scenarios/ (one default export per file, from defineScenario).
import { readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { SCENARIOS_DIR } from '../../paths.js';
import type { ScenarioDefinition } from './define.js';

let tsxRegistered = false;

/**
 * Scenarios are TypeScript files, loaded as they are: under tsx (tests) directly; from the built
 * CLI (plain Node) by registering tsx's loader the first time Node refuses a .ts file.
 */
async function importTypeScript(url: string): Promise<unknown> {
  try {
    return await import(url);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_UNKNOWN_FILE_EXTENSION' || tsxRegistered) throw e;
    const { register } = await import('tsx/esm/api');
    register();
    tsxRegistered = true;
    // Node remembers the failed load of this URL: ask again under another one.
    return import(`${url}?tsx`);
  }
}

export async function loadScenarios(dir: string = SCENARIOS_DIR): Promise<ScenarioDefinition[]> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
    .sort();
  const defs: ScenarioDefinition[] = [];
  for (const f of files) {
    const mod = (await importTypeScript(pathToFileURL(join(dir, f)).href)) as { default?: ScenarioDefinition };
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
