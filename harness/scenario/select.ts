// Which scenario runs on which board: by capabilities only (a scenario never names a board).
import type { Capability } from '../board/board.js';
import type { ScenarioDefinition } from './define.js';

export function missingNeeds(def: Pick<ScenarioDefinition, 'needs'>, board: { capabilities: ReadonlySet<Capability> }): Capability[] {
  return def.needs.filter((n) => !board.capabilities.has(n));
}

export function runsOn(def: Pick<ScenarioDefinition, 'needs'>, board: { capabilities: ReadonlySet<Capability> }): boolean {
  return missingNeeds(def, board).length === 0;
}

/**
 * Picks scenarios by name (`name`, or `name#k` for one sweep point: the variant filter is
 * returned alongside); no names = all. Unknown names are an error listing what exists.
 */
export function selectScenarios(all: readonly ScenarioDefinition[], names: readonly string[]): { scenarios: ScenarioDefinition[]; only: Map<string, Set<string>> } {
  const only = new Map<string, Set<string>>();
  if (names.length === 0) return { scenarios: [...all], only };
  const picked: ScenarioDefinition[] = [];
  for (const raw of names) {
    const [name, variant] = raw.split('#') as [string, string | undefined];
    const def = all.find((d) => d.name === name);
    if (!def) throw new Error(`no scenario named ${name}; known: ${all.map((d) => d.name).join(', ')}`);
    if (!picked.includes(def)) picked.push(def);
    if (variant !== undefined) {
      const set = only.get(name) ?? new Set<string>();
      set.add(variant);
      only.set(name, set);
    }
  }
  return { scenarios: picked, only };
}

/** Restricts a scenario to some of its variants (`power-cut-sweep#2`). */
export function withOnlyVariants(def: ScenarioDefinition, ids: ReadonlySet<string>): ScenarioDefinition {
  if (!def.variants) return def;
  const variants = def.variants;
  return { ...def, variants: (p) => variants(p).filter((v) => ids.has(v.id)) };
}
