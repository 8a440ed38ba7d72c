// Campaign defaults, apart from campaign.ts so the CLI's --help shows them without loading it.
export const DEFAULTS = { partitionMiB: 1, extra: 4 };
