export { bootstrap, type BootstrapResult } from './bootstrap.js';
export {
  createDeviceKey,
  loadDeviceKey,
  loadOrCreateDeviceKey,
  signRequest,
  isKeyType,
  DeviceKeyError,
  KEY_FILE,
  KEY_TYPES,
  DEFAULT_KEY_TYPE,
  type DeviceKey,
  type KeyType,
} from './device-key.js';
export { readIdentity, identityJson, IdentityError, DEFAULT_IDENTITY_SCRIPT } from './identity.js';
export { runExecutable } from './run-executable.js';
export { parseKeyValueLines, mergeAttributes, attributeValue, KeyValueError, type Attributes } from './key-value-lines.js';
