// The device key types, apart from device-key.ts (node:crypto, files) so the CLI's option help
// and argument checks load nothing else.
export const KEY_TYPES = ['ed25519', 'rsa3072', 'ecdsa-p256'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export function isKeyType(s: string): s is KeyType {
  return (KEY_TYPES as readonly string[]).includes(s);
}
