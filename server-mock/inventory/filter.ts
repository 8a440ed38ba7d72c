// Inventory filter terms, Mender's v2 search syntax: {scope, attribute, type, value} with
// $eq $ne $in $nin $exists $gt $gte $lt $lte $regex. Used by search and by saved filters
// (dynamic groups) that deployments can target.
import type { FilterTerm, InventoryAttribute } from '../store/store.js';
import { badRequest } from '../http-errors.js';

export const FILTER_TYPES = ['$eq', '$ne', '$in', '$nin', '$exists', '$gt', '$gte', '$lt', '$lte', '$regex'] as const;

export const filterTermSchema = {
  type: 'object',
  required: ['scope', 'attribute', 'type'],
  properties: {
    scope: { type: 'string', minLength: 1 },
    attribute: { type: 'string', minLength: 1 },
    type: { type: 'string', enum: [...FILTER_TYPES] },
    value: {},
  },
} as const;

export function validateTerms(terms: FilterTerm[]): void {
  for (const t of terms) {
    if ((t.type === '$in' || t.type === '$nin') && !Array.isArray(t.value)) throw badRequest(`${t.type} needs an array value`);
    if (t.type === '$regex') {
      if (typeof t.value !== 'string' || t.value.length > 200) throw badRequest('$regex needs a string value of at most 200 characters');
      try {
        new RegExp(t.value);
      } catch {
        throw badRequest(`invalid regular expression ${t.value}`);
      }
    }
  }
}

function values(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

function termMatches(t: FilterTerm, attr: InventoryAttribute | undefined): boolean {
  if (t.type === '$exists') return (attr !== undefined) === (t.value !== false);
  if (!attr) return t.type === '$ne' || t.type === '$nin';
  const have = values(attr.value);
  switch (t.type) {
    case '$eq':
      return have.some((h) => h === t.value);
    case '$ne':
      return !have.some((h) => h === t.value);
    case '$in':
      return have.some((h) => (t.value as unknown[]).includes(h));
    case '$nin':
      return !have.some((h) => (t.value as unknown[]).includes(h));
    case '$regex': {
      const re = new RegExp(t.value as string);
      return have.some((h) => typeof h === 'string' && re.test(h));
    }
    default: {
      const cmp = (h: unknown) => {
        if (typeof h === 'number' && typeof t.value === 'number') return h - t.value;
        if (typeof h === 'string' && typeof t.value === 'string') return h < t.value ? -1 : h > t.value ? 1 : 0;
        return NaN;
      };
      return have.some((h) => {
        const c = cmp(h);
        if (Number.isNaN(c)) return false;
        return t.type === '$gt' ? c > 0 : t.type === '$gte' ? c >= 0 : t.type === '$lt' ? c < 0 : c <= 0;
      });
    }
  }
}

export function matchesAll(terms: FilterTerm[], attrs: InventoryAttribute[]): boolean {
  return terms.every((t) => termMatches(t, attrs.find((a) => a.scope === t.scope && a.name === t.attribute)));
}
