// Mender's page/per_page query parameters.
export const pagingQuery = {
  page: { type: 'integer', minimum: 1, default: 1 },
  per_page: { type: 'integer', minimum: 1, maximum: 500, default: 20 },
} as const;

export function pageOf<T>(items: T[], page = 1, perPage = 20): T[] {
  return items.slice((page - 1) * perPage, page * perPage);
}
