// Where the client's configuration lives by default, apart from config.ts (zod and the whole
// schema) so the CLI's option help loads nothing else.
export const DEFAULT_CONFIG_PATH = '/etc/flipside/flipside.conf';
