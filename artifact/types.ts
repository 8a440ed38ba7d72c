// The data model of a Mender Artifact (format v3, v2 read), shared by the reader, the writer,
// the client and the server. Field names follow the JSON inside the artifact where they map 1:1.
import type { KeyObject } from 'node:crypto';
import type { Readable } from 'node:stream';

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

/** A provides/depends value: type-info allows a string or a list of strings. */
export type ProvidesValue = string | string[];

/** `artifact_depends` of header-info: each list means "one of". */
export interface HeaderDepends {
  device_type: string[];
  artifact_name?: string[];
  artifact_group?: string[];
}

/** `artifact_provides` of header-info. */
export interface HeaderProvides {
  artifact_name: string;
  artifact_group?: string;
}

/** `headers/NNNN/type-info` as stored. mender-artifact 3.x-4.3.0 wrote `"type":""` for rootfs-image; 4.3.1+ and we write the payload type. */
export interface TypeInfo {
  type: string | null;
  artifact_provides?: Record<string, string>;
  artifact_depends?: Record<string, ProvidesValue>;
  clears_artifact_provides?: string[];
}

export interface PayloadFileInfo {
  /** Name inside data/NNNN.tar (no directories). */
  name: string;
  size: number;
  /** Lower-case hex SHA-256 from the manifest. */
  checksum: string;
  modified: Date;
}

export interface PayloadHeader {
  index: number;
  /** From header-info `payloads[index].type` (header-augment overrides): null for empty payloads. */
  type: string | null;
  typeInfo: TypeInfo;
  /** Parsed `meta-data`, or null when absent or empty. */
  metaData: Record<string, unknown> | null;
  /** Known from the data tar; filled as the payload is read (complete after readArtifact resolves). */
  files: PayloadFileInfo[];
}

export interface ArtifactScript {
  /** e.g. ArtifactInstall_Enter_00 */
  name: string;
  mode: number;
  content: Buffer;
}

/** none: no manifest.sig. verified: verified with a given key. unverified: present, no key given. */
export type SignatureState = 'none' | 'verified' | 'unverified';

export interface ArtifactHeaders {
  formatVersion: 2 | 3;
  name: string;
  provides: HeaderProvides;
  depends: HeaderDepends;
  payloads: PayloadHeader[];
  scripts: ArtifactScript[];
  signature: SignatureState;
  /** Member name → sha256 hex, from manifest (and manifest-augment). */
  manifest: Map<string, string>;
  compression: Compression;
  augmented: boolean;
}

export interface PayloadEntry {
  payloadIndex: number;
  name: string;
  size: number;
  modified: Date;
  /** Expected sha256 hex from the manifest. */
  checksum: string;
}

export interface ReadOptions {
  /** Public keys (KeyObject or PEM). When given, a signature must be present and verify with one of them. */
  verifyKeys?: Array<KeyObject | string | Buffer>;
  /** Fail with SIGNATURE_REQUIRED when manifest.sig is absent, even with no verifyKeys. */
  requireSignature?: boolean;
  /**
   * Called once the version, manifest, signature and header are read and verified, before any
   * payload byte: throw here to refuse the artifact (wrong device type, failed depends).
   */
  onHeaders?: (headers: ArtifactHeaders) => void | Promise<void>;
  /**
   * Called for each payload file with its bytes as a stream. The consumer must read the stream to
   * its end (backpressure is end to end). The reader hashes the bytes itself and rejects
   * readArtifact with CHECKSUM_MISMATCH after the stream ends if they do not match the manifest.
   * When absent, payload bytes are hashed and discarded.
   * In detail: on a mismatch (or any other reader error) while the consumer's promise is still
   * pending, the stream is destroyed with that same ArtifactError instead of emitting 'end', so a
   * consumer never sees a clean end of bad bytes; readArtifact settles only after the consumer's
   * promise has settled, and the reader's own error wins over whatever the consumer then throws.
   * Once the consumer's promise has settled (it returned early, or rejected) the stream is
   * destroyed without an error ('close', no 'end'). When the consumer rejects, readArtifact
   * rejects with the consumer's error and stops reading at once. The reader keeps its own no-op
   * 'error' listener on the stream: a consumer needs none for the process to be safe (an error is
   * still delivered to its listeners, and to `for await` / `pipeline`).
   */
  onPayloadFile?: (entry: PayloadEntry, stream: Readable) => Promise<void>;
  /** Cap on decompressed header.tar bytes (default 16 MiB) and on any single JSON/script file (default 1 MiB). */
  maxHeaderBytes?: number;
  maxHeaderFileBytes?: number;
}

/** Codes of ArtifactError: stable strings that tests, the client and the server match on. */
export type ArtifactErrorCode =
  | 'TRUNCATED'
  | 'NOT_TAR'
  | 'UNKNOWN_VERSION'
  | 'BAD_VERSION_FILE'
  | 'ORDER'
  | 'UNEXPECTED_MEMBER'
  | 'DUPLICATE_MEMBER'
  | 'MANIFEST_SYNTAX'
  | 'MANIFEST_MISSING_ENTRY'
  | 'MANIFEST_UNUSED_ENTRY'
  | 'CHECKSUM_MISMATCH'
  | 'SIGNATURE_REQUIRED'
  | 'SIGNATURE_INVALID'
  | 'BAD_KEY'
  | 'UNSAFE_PATH'
  | 'TOO_LARGE'
  | 'BAD_HEADER'
  | 'COMPRESSION'
  | 'REFUSED';
