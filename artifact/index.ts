// The public API of the artifact library.
export * from './types.js';
export { ArtifactError, isArtifactError } from './errors.js';
export { readArtifact, type ReaderExtras } from './reader.js';
export { writeArtifact, makeHeaderInfo, makeTypeInfo, type WriteSpec, type WriteResult, type PayloadFileSpec, type ScriptSpec } from './writer.js';
export { loadPrivateKey, loadPublicKey, signManifest, verifyManifest, resignArtifact, type KeyInput, type ResignOptions } from './sign.js';
export { checkDepends, providesAfterInstall, matchesWildcard, type DeviceProvides } from './depends.js';
export {
  createCompressor,
  createDecompressor,
  compressionFromName,
  compressionSuffix,
  parseCompressionId,
  findTool,
  COMPRESSION_IDS,
  type CompressionChoice,
  type CompressionId,
  type Engine,
} from './compression.js';
export { parseManifest, formatManifest } from './manifest.js';
export { formatRead, headersToJson } from './format.js';
