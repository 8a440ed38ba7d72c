// ArtifactHeaders to JSON and back, so that an installer re-created after a kill sees the same
// headers it saw during Download (the artifact itself is gone by then). Scripts are not kept here:
// they are stored as files by the scripts runner.
import { z } from 'zod';
import type { ArtifactHeaders } from '../../artifact/types.js';
import { payloadsToJson } from '../../artifact/format.js';

const fileSchema = z.object({ name: z.string(), size: z.number(), checksum: z.string(), modified: z.string() });
const payloadSchema = z.object({
  index: z.number(),
  type: z.string().nullable(),
  typeInfo: z
    .object({
      type: z.string().nullable(),
      artifact_provides: z.record(z.string()).optional(),
      artifact_depends: z.record(z.union([z.string(), z.array(z.string())])).optional(),
      clears_artifact_provides: z.array(z.string()).optional(),
    }),
  metaData: z.record(z.unknown()).nullable(),
  files: z.array(fileSchema),
});

export const storedHeadersSchema = z.object({
  formatVersion: z.union([z.literal(2), z.literal(3)]),
  name: z.string(),
  provides: z.object({ artifact_name: z.string(), artifact_group: z.string().optional() }),
  depends: z.object({
    device_type: z.array(z.string()),
    artifact_name: z.array(z.string()).optional(),
    artifact_group: z.array(z.string()).optional(),
  }),
  payloads: z.array(payloadSchema),
  signature: z.enum(['none', 'verified', 'unverified']),
  manifest: z.record(z.string()),
  compression: z.enum(['none', 'gzip', 'xz', 'zstd']),
  augmented: z.boolean(),
});
export type StoredHeaders = z.infer<typeof storedHeadersSchema>;

export function encodeHeaders(h: ArtifactHeaders): StoredHeaders {
  return {
    formatVersion: h.formatVersion,
    name: h.name,
    provides: h.provides,
    depends: h.depends,
    payloads: payloadsToJson(h.payloads),
    signature: h.signature,
    manifest: Object.fromEntries(h.manifest),
    compression: h.compression,
    augmented: h.augmented,
  };
}

export function decodeHeaders(s: StoredHeaders): ArtifactHeaders {
  return {
    formatVersion: s.formatVersion,
    name: s.name,
    provides: s.provides,
    depends: s.depends,
    payloads: s.payloads.map((p) => ({ ...p, files: p.files.map((f) => ({ ...f, modified: new Date(f.modified) })) })),
    scripts: [],
    signature: s.signature,
    manifest: new Map(Object.entries(s.manifest)),
    compression: s.compression,
    augmented: s.augmented,
  };
}
