// The one error type the artifact library throws: callers (client, server, CLI) branch on `code`,
// never on message text.
import type { ArtifactErrorCode } from './types.js';

export class ArtifactError extends Error {
  readonly code: ArtifactErrorCode;

  constructor(code: ArtifactErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ArtifactError';
    this.code = code;
  }
}

export function isArtifactError(e: unknown): e is ArtifactError {
  return e instanceof ArtifactError;
}
