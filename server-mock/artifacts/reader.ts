// The artifact reader of artifact/, behind one function so ingest does not care how it loads.
import type { Readable } from 'node:stream';
import type { ArtifactHeaders, ReadOptions } from '../../artifact/types.js';
import { readArtifact } from '../../artifact/reader.js';

export type ReadArtifact = (input: Readable | string, opts?: ReadOptions) => Promise<ArtifactHeaders>;

export async function loadReader(): Promise<ReadArtifact> {
  return readArtifact;
}
