// The `manifest` file: `sha256sum` format, one `<64 hex>  <path>` line per covered file.
import { ArtifactError } from './errors.js';

const LINE = /^([0-9a-fA-F]{64}) {2}(\S(?:.*\S)?)$/;

export function parseManifest(text: Buffer, label = 'manifest'): Map<string, string> {
  const out = new Map<string, string>();
  const s = text.toString('utf8');
  const lines = s.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new ArtifactError('MANIFEST_SYNTAX', `${label} is empty`);
  lines.forEach((line, i) => {
    const m = LINE.exec(line);
    if (!m) throw new ArtifactError('MANIFEST_SYNTAX', `${label} line ${i + 1} is not "<sha256>  <path>": ${JSON.stringify(line.slice(0, 120))}`);
    const path = m[2]!;
    if (out.has(path)) throw new ArtifactError('MANIFEST_SYNTAX', `${label} lists ${path} twice`);
    out.set(path, m[1]!.toLowerCase());
  });
  return out;
}

/** Lines in the given order (mender-artifact: payload files, then header, then version). */
export function formatManifest(entries: Array<[path: string, sha256: string]>): Buffer {
  return Buffer.from(entries.map(([p, h]) => `${h}  ${p}\n`).join(''));
}
