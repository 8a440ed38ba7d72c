// The reference server's public surface for other parts of the project (harness, client tests).
export { buildServer, type BuildServerOptions } from './app.js';
export { ensureTls, type TlsMaterial } from './tls.js';
export { createUser } from './management/useradm.js';
export { SimDevice, injectTransport, httpTransport, generateDeviceKey, signBody, type KeyKind, type Transport, type Update } from './testing/device-sim.js';
