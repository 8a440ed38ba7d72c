// The client's version, printed by --version and sent in inventory. Kept equal to package.json's
// version by version.test.ts (the device bundle has no package.json to read at run time).
export const VERSION = '0.1.0';
