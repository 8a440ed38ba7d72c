// Which clients a scenario can run against, apart from how each is driven (client.ts): the CLI
// parses --client with this alone, so its start-up does not load client.ts and node:crypto.
export const CLIENT_KINDS = ['flipside', 'mender'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

export function parseClientKind(v: string): ClientKind {
  if (!(CLIENT_KINDS as readonly string[]).includes(v)) throw new Error(`--client ${v}: one of ${CLIENT_KINDS.join(', ')}`);
  return v as ClientKind;
}
