// Human output of `read`, shaped exactly like `mender-artifact read` 4.0 (cli/read.go), and the
// JSON form for `read --json`.
import type { ArtifactHeaders, SignatureState } from './types.js';

const IND = '  ';

function signatureText(s: SignatureState, verifyFailed: boolean): string {
  if (verifyFailed) return 'signed; verification using provided key failed';
  if (s === 'verified') return 'signed and verified correctly';
  if (s === 'unverified') return 'signed but no key for verification provided; please use `-k` option for providing verification key';
  return 'no signature';
}

/** Go's time.Time %s for a UTC time: 2026-11-23 18:04:46 +0000 UTC */
export function goTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`;
}

function goValue(v: unknown): string {
  return Array.isArray(v) ? `[${v.map(goValue).join(' ')}]` : String(v);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  }
  return v;
}

function flowList(title: string, l: string[], level: number): string {
  return `${IND.repeat(level)}${title}:${l.length === 0 ? ' []' : ` [${l.join(', ')}]`}\n`;
}

function object(title: string, o: Record<string, unknown> | undefined, level: number): string {
  const keys = Object.keys(o ?? {}).sort();
  if (keys.length === 0) return `${IND.repeat(level)}${title}: {}\n`;
  return `${IND.repeat(level)}${title}:\n${keys.map((k) => `${IND.repeat(level + 1)}${k}: ${goValue(o![k])}\n`).join('')}`;
}

export function formatRead(h: ArtifactHeaders, opts: { verifyFailed?: boolean } = {}): string {
  let s = 'Mender Artifact:\n';
  s += `${IND}Name: ${h.name}\n`;
  s += `${IND}Format: mender\n`;
  s += `${IND}Version: ${h.formatVersion}\n`;
  s += `${IND}Signature: ${signatureText(h.signature, opts.verifyFailed ?? false)}\n`;
  s += flowList('Compatible devices', h.depends.device_type, 1);
  s += `${IND}Provides group: ${h.provides.artifact_group ?? ''}\n`;
  s += `${IND}Depends on one of artifact(s): [${(h.depends.artifact_name ?? []).join(', ')}]\n`;
  s += `${IND}Depends on one of group(s): [${(h.depends.artifact_group ?? []).join(', ')}]\n`;
  s += h.scripts.length === 0 ? `${IND}State scripts: []\n` : `${IND}State scripts:\n${h.scripts.map((x) => `${IND.repeat(2)}- ${x.name}\n`).join('')}`;
  s += '\nUpdates:\n';
  for (const p of h.payloads) {
    s += `${IND}- Type: ${p.type ?? 'Empty type'}\n`;
    s += object('Provides', p.typeInfo.artifact_provides, 2);
    s += object('Depends', p.typeInfo.artifact_depends, 2);
    s += flowList('Clears Provides', p.typeInfo.clears_artifact_provides ?? [], 2);
    if (!p.metaData || Object.keys(p.metaData).length === 0) s += `${IND.repeat(2)}Metadata: {}\n`;
    else {
      const pad = IND.repeat(3);
      s += `${IND.repeat(2)}Metadata:\n${pad}${JSON.stringify(sortKeys(p.metaData), null, 2).replace(/\n/g, `\n${pad}`)}\n`;
    }
    if (p.files.length === 0) s += `${IND.repeat(2)}Files: []\n`;
    else {
      s += `${IND.repeat(2)}Files:\n`;
      for (const f of p.files) {
        s += `${IND.repeat(3)}- checksum: ${f.checksum}\n`;
        s += `${IND.repeat(4)}modified: ${goTime(f.modified)}\n`;
        s += `${IND.repeat(4)}name: ${f.name}\n`;
        s += `${IND.repeat(4)}size: ${f.size}\n`;
      }
    }
  }
  return s;
}

/** A JSON-safe view of the headers (Map and Buffer flattened). */
export function headersToJson(h: ArtifactHeaders, opts: { verifyFailed?: boolean } = {}): Record<string, unknown> {
  return {
    formatVersion: h.formatVersion,
    name: h.name,
    signature: opts.verifyFailed ? 'invalid' : h.signature,
    compression: h.compression,
    augmented: h.augmented,
    provides: h.provides,
    depends: h.depends,
    scripts: h.scripts.map((s) => ({ name: s.name, mode: s.mode, size: s.content.length })),
    payloads: payloadsToJson(h.payloads),
    manifest: Object.fromEntries(h.manifest),
  };
}

/** The payload headers as plain JSON (dates as ISO strings): shared by `read --json` and the client's state store. */
export function payloadsToJson(payloads: ArtifactHeaders['payloads']) {
  return payloads.map((p) => ({
    index: p.index,
    type: p.type,
    typeInfo: p.typeInfo,
    metaData: p.metaData,
    files: p.files.map((f) => ({ name: f.name, size: f.size, checksum: f.checksum, modified: f.modified.toISOString() })),
  }));
}
