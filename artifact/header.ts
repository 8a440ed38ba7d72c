// Parsing and validation of the (decompressed) header.tar: header-info, state scripts and each
// payload's type-info and meta-data. Everything here has already been authenticated through the
// manifest checksum; the checks are about shape, so a malformed header is BAD_HEADER, not a crash.
import { ByteSource } from './byte-source.js';
import { ArtifactError } from './errors.js';
import { TarReader, checkSafeName } from './tar.js';
import type { ArtifactScript, HeaderDepends, HeaderProvides, ProvidesValue, TypeInfo } from './types.js';

export interface ParsedHeader {
  name: string;
  provides: HeaderProvides;
  depends: HeaderDepends;
  payloadTypes: Array<string | null>;
  typeInfos: Map<number, TypeInfo>;
  metaData: Map<number, Record<string, unknown> | null>;
  scripts: ArtifactScript[];
}

function bad(msg: string): never {
  throw new ArtifactError('BAD_HEADER', msg);
}

function parseJson(buf: Buffer, label: string): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    bad(`${label} is not valid JSON: ${(e as Error).message}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown, label: string, required: boolean): string[] | undefined {
  if (v === undefined || v === null) {
    if (required) bad(`${label} is missing`);
    return undefined;
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) bad(`${label} must be a list of strings`);
  if (required && v.length === 0) bad(`${label} is empty`);
  return v as string[];
}

function parseHeaderInfoV3(j: unknown): Pick<ParsedHeader, 'name' | 'provides' | 'depends' | 'payloadTypes'> {
  if (!isObject(j)) bad('header-info is not a JSON object');
  const payloads = j.payloads;
  if (!Array.isArray(payloads) || payloads.length === 0) bad('header-info has no payloads');
  const payloadTypes = payloads.map((p, i) => {
    if (!isObject(p)) bad(`header-info payloads[${i}] is not an object`);
    if (p.type !== null && typeof p.type !== 'string') bad(`header-info payloads[${i}].type must be a string or null`);
    return p.type as string | null;
  });
  const ap = j.artifact_provides;
  if (!isObject(ap)) bad('header-info has no artifact_provides');
  if (typeof ap.artifact_name !== 'string' || ap.artifact_name === '') bad('header-info artifact_provides.artifact_name is missing');
  if (ap.artifact_group !== undefined && typeof ap.artifact_group !== 'string') bad('header-info artifact_provides.artifact_group must be a string');
  const ad = j.artifact_depends;
  if (!isObject(ad)) bad('header-info has no artifact_depends');
  const depends: HeaderDepends = { device_type: stringList(ad.device_type, 'header-info artifact_depends.device_type', true)! };
  const an = stringList(ad.artifact_name, 'header-info artifact_depends.artifact_name', false);
  const ag = stringList(ad.artifact_group, 'header-info artifact_depends.artifact_group', false);
  if (an) depends.artifact_name = an;
  if (ag) depends.artifact_group = ag;
  const provides: HeaderProvides = { artifact_name: ap.artifact_name };
  if (typeof ap.artifact_group === 'string' && ap.artifact_group !== '') provides.artifact_group = ap.artifact_group;
  return { name: ap.artifact_name, provides, depends, payloadTypes };
}

function parseHeaderInfoV2(j: unknown): Pick<ParsedHeader, 'name' | 'provides' | 'depends' | 'payloadTypes'> {
  if (!isObject(j)) bad('header-info is not a JSON object');
  const updates = j.updates;
  if (!Array.isArray(updates) || updates.length === 0) bad('header-info has no updates');
  const payloadTypes = updates.map((u, i) => {
    if (!isObject(u) || typeof u.type !== 'string') bad(`header-info updates[${i}].type must be a string`);
    return u.type as string;
  });
  if (typeof j.artifact_name !== 'string' || j.artifact_name === '') bad('header-info artifact_name is missing');
  const devices = stringList(j.device_types_compatible, 'header-info device_types_compatible', true)!;
  return { name: j.artifact_name, provides: { artifact_name: j.artifact_name }, depends: { device_type: devices }, payloadTypes };
}

export function parseTypeInfo(buf: Buffer, label: string, version: 2 | 3): TypeInfo {
  const j = parseJson(buf, label);
  if (!isObject(j)) bad(`${label} is not a JSON object`);
  if (j.type !== undefined && j.type !== null && typeof j.type !== 'string') bad(`${label} type must be a string or null`);
  const ti: TypeInfo = { type: (j.type as string | null | undefined) ?? null };
  if (version === 2) return ti;
  if (j.artifact_provides !== undefined && j.artifact_provides !== null) {
    const p = j.artifact_provides;
    if (!isObject(p) || !Object.values(p).every((v) => typeof v === 'string')) bad(`${label} artifact_provides must map strings to strings`);
    ti.artifact_provides = p as Record<string, string>;
  }
  if (j.artifact_depends !== undefined && j.artifact_depends !== null) {
    const d = j.artifact_depends;
    const okValue = (v: unknown) => typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    if (!isObject(d) || !Object.values(d).every(okValue)) bad(`${label} artifact_depends must map strings to a string or a list of strings`);
    ti.artifact_depends = d as Record<string, ProvidesValue>;
  }
  if (j.clears_artifact_provides !== undefined && j.clears_artifact_provides !== null) {
    ti.clears_artifact_provides = stringList(j.clears_artifact_provides, `${label} clears_artifact_provides`, false);
  }
  return ti;
}

function parseMetaData(buf: Buffer, label: string): Record<string, unknown> | null {
  if (buf.toString('utf8').trim() === '') return null;
  const j = parseJson(buf, label);
  if (!isObject(j)) bad(`${label} must be a JSON object`);
  return j;
}

const SCRIPT_NAME = /^[A-Za-z]+_(Enter|Leave|Error)_[0-9]{2}(_\S+)?$/;
const BUCKET = /^headers\/([0-9]{4})\/(.+)$/;

export interface HeaderLimits {
  maxFileBytes: number;
}

/** Parses a decompressed header.tar (or header-augment.tar when `augment`). */
export async function parseHeaderTar(tarBytes: Buffer, version: 2 | 3, limits: HeaderLimits, augment = false): Promise<ParsedHeader> {
  const label = augment ? 'header-augment' : 'header';
  const tar = new TarReader(new ByteSource((async function* () { yield tarBytes; })(), `${label}.tar`), `${label}.tar`, limits.maxFileBytes);
  const seen = new Set<string>();
  let info: Pick<ParsedHeader, 'name' | 'provides' | 'depends' | 'payloadTypes'> | null = null;
  const typeInfos = new Map<number, TypeInfo>();
  const metaData = new Map<number, Record<string, unknown> | null>();
  const scripts: ArtifactScript[] = [];
  let augmentInfo: unknown = null;
  for (let h = await tar.next(); h; h = await tar.next()) {
    let name = h.name;
    if (name.startsWith('./')) name = name.slice(2);
    checkSafeName(name, `${label}.tar`);
    if (h.type === 'directory') continue;
    if (h.type !== 'file') throw new ArtifactError('UNEXPECTED_MEMBER', `${label}.tar: ${name} is not a regular file`);
    if (seen.has(name)) throw new ArtifactError('DUPLICATE_MEMBER', `${label}.tar contains ${name} twice`);
    seen.add(name);
    const body = await tar.readAll(limits.maxFileBytes, `${label}.tar member ${name}`);
    if (seen.size === 1 && name !== 'header-info') throw new ArtifactError('ORDER', `${label}.tar must start with header-info, not ${name}`);
    if (name === 'header-info') {
      const j = parseJson(body, `${label} header-info`);
      if (augment) augmentInfo = j;
      else info = version === 3 ? parseHeaderInfoV3(j) : parseHeaderInfoV2(j);
      continue;
    }
    if (name.startsWith('scripts/')) {
      const base = name.slice('scripts/'.length);
      if (augment) throw new ArtifactError('UNEXPECTED_MEMBER', `${label}.tar may not carry scripts (${name})`);
      if (base.includes('/') || !SCRIPT_NAME.test(base)) bad(`invalid state script name ${JSON.stringify(base)}`);
      scripts.push({ name: base, mode: h.mode, content: body });
      continue;
    }
    const m = BUCKET.exec(name);
    if (m) {
      const idx = parseInt(m[1]!, 10);
      const file = m[2]!;
      if (file === 'type-info') typeInfos.set(idx, parseTypeInfo(body, `${name}`, version));
      else if (file === 'meta-data') metaData.set(idx, parseMetaData(body, name));
      else if (version === 3 && !augment) throw new ArtifactError('UNEXPECTED_MEMBER', `unexpected ${label}.tar member ${name}`);
      // v2 carries headers/NNNN/files and checksums/: the manifest supersedes them.
      continue;
    }
    throw new ArtifactError('UNEXPECTED_MEMBER', `unexpected ${label}.tar member ${name}`);
  }
  if (augment) {
    const types: Array<string | null> = [];
    if (augmentInfo !== null) {
      if (!isObject(augmentInfo) || !Array.isArray(augmentInfo.payloads)) bad('header-augment header-info has no payloads');
      for (const p of augmentInfo.payloads as unknown[]) {
        if (!isObject(p) || (p.type !== null && typeof p.type !== 'string')) bad('header-augment payload type must be a string or null');
        types.push(p.type as string | null);
      }
    }
    return { name: '', provides: { artifact_name: '' }, depends: { device_type: [] }, payloadTypes: types, typeInfos, metaData, scripts };
  }
  if (!info) bad(`${label}.tar has no header-info`);
  for (let i = 0; i < info.payloadTypes.length; i++) {
    if (!typeInfos.has(i)) bad(`${label}.tar has no headers/${String(i).padStart(4, '0')}/type-info`);
  }
  for (const i of [...typeInfos.keys(), ...metaData.keys()]) {
    if (i >= info.payloadTypes.length) throw new ArtifactError('UNEXPECTED_MEMBER', `${label}.tar has headers for payload ${i} but header-info lists ${info.payloadTypes.length}`);
  }
  return { ...info, typeInfos, metaData, scripts };
}
