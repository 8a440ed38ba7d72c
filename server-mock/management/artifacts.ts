// Artifacts (upload, list, show, delete, download link) and releases (artifacts grouped by name).
import type { FastifyInstance } from 'fastify';
import type { MultipartFile } from '@fastify/multipart';
import { randomUUID } from 'node:crypto';
import { rmSync, mkdtempSync, createReadStream, createWriteStream, existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { serialize, deserialize } from 'node:v8';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { writeArtifact } from '../../artifact/writer.js';
import type { ServerContext } from '../context.js';
import { userGuard } from '../auth/guards.js';
import { ingestArtifact, artifactMeta, type IngestedArtifact } from '../artifacts/ingest.js';
import { signedDownloadLink, signedUploadLink, checkUploadLink } from '../artifacts/links.js';
import { baseUrl } from '../request-url.js';
import { errorSchema, badRequest, conflict, notFound, forbidden, ApiError } from '../http-errors.js';
import { now, type ArtifactRow } from '../store/store.js';
import { pagingQuery, sendPage } from './paging.js';
import { filterAsync, mapAsync } from '../async-array.js';

const BASE = '/api/management/v1/deployments';
const V2 = '/api/management/v2/deployments';
const tags = ['Management API: deployments'];

export const artifactSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    description: { type: 'string' },
    device_types_compatible: { type: 'array', items: { type: 'string' } },
    info: { type: 'object', properties: { format: { type: 'string' }, version: { type: 'integer' } } },
    signed: { type: 'boolean' },
    updates: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          type_info: { type: 'object', properties: { type: { type: 'string', nullable: true } } },
          files: {
            type: 'array',
            items: { type: 'object', properties: { name: { type: 'string' }, checksum: { type: 'string' }, size: { type: 'integer' }, date: { type: 'string' } } },
          },
          metadata: { type: 'object', additionalProperties: true },
          meta_data: { type: 'array', items: { type: 'object', additionalProperties: true } },
        },
      },
    },
    artifact_provides: { type: 'object', additionalProperties: { type: 'string' } },
    artifact_depends: { type: 'object', additionalProperties: true },
    clears_artifact_provides: { type: 'array', items: { type: 'string' } },
    size: { type: 'integer' },
    checksum: { type: 'string' },
    modified: { type: 'string' },
  },
} as const;

/**
 * One `updates[]` entry as Mender's API has it: `metadata` the payload's meta-data object, and the
 * deprecated `meta_data` an array (mender-cli 1.9.0 decodes it into a Go slice and fails on an
 * object). Rows stored before this kept `meta_data: {}`; both are derived here from either form.
 */
function updateView(u: ArtifactRow['meta']['updates'][number]) {
  const md = u.meta_data;
  const obj = Array.isArray(md) ? (md[0] as Record<string, unknown> | undefined) : (md as Record<string, unknown> | null | undefined);
  const metadata = obj && typeof obj === 'object' ? obj : {};
  return { type_info: u.type_info, files: u.files, metadata, meta_data: Object.keys(metadata).length > 0 ? [metadata] : [] };
}

export function artifactView(a: ArtifactRow) {
  return {
    id: a.id,
    name: a.name,
    description: a.description,
    device_types_compatible: a.device_types,
    info: { format: a.meta.format, version: a.meta.version },
    signed: a.meta.signed,
    updates: a.meta.updates.map(updateView),
    artifact_provides: a.meta.artifact_provides,
    artifact_depends: a.meta.artifact_depends,
    clears_artifact_provides: a.meta.clears_artifact_provides,
    size: a.size,
    checksum: a.checksum,
    modified: a.modified,
  };
}

const idParams = { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' } } } as const;

export async function artifactRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  const guard = userGuard(ctx);

  /** Keeps a validated upload: refuses a name + device type clash, moves the blob in, writes the row. */
  async function storeIngested(ingested: IngestedArtifact, description: string, actor: string): Promise<string> {
    const meta = artifactMeta(ingested.headers);
    const name = ingested.headers.name;
    const types = ingested.headers.depends.device_type;
    const clash = (await ctx.store.artifactsByName(name)).find((a) => a.device_types.some((t) => types.includes(t)));
    if (clash) throw conflict('an artifact with the same name and depends already exists');
    const id = randomUUID();
    ctx.blobs.commit(ingested.tempPath, id);
    try {
      await ctx.store.insertArtifact({ id, name, description, device_types: types, size: ingested.size, checksum: ingested.checksum, meta, modified: now() });
    } catch (e) {
      ctx.blobs.remove(id);
      throw e;
    }
    await ctx.store.audit(actor, 'artifact.upload', 'artifact', id, { name, size: ingested.size });
    return id;
  }

  app.post(
    `${BASE}/artifacts`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Upload a Mender artifact (multipart: size, description, artifact)',
        consumes: ['multipart/form-data'],
        response: { 201: { type: 'null' }, 400: errorSchema, 401: errorSchema, 409: errorSchema, 413: errorSchema },
      },
    },
    async (req, reply) => {
      if (!req.isMultipart()) throw badRequest('multipart/form-data expected');
      let description = '';
      let declaredSize: number | undefined;
      let ingested: Awaited<ReturnType<typeof ingestArtifact>> | undefined;
      try {
        for await (const part of req.parts()) {
          if (part.type === 'file') {
            if (part.fieldname !== 'artifact') throw badRequest(`unexpected file field ${part.fieldname}`);
            if (ingested) throw badRequest('only one artifact per upload');
            ingested = await ingestArtifact((part as MultipartFile).file, ctx.blobs, ctx.maxArtifactBytes);
          } else if (part.fieldname === 'description') {
            description = String(part.value);
          } else if (part.fieldname === 'size') {
            declaredSize = Number(part.value);
            if (!Number.isInteger(declaredSize) || declaredSize < 0) throw badRequest('size must be a non-negative integer');
          } else {
            throw badRequest(`unexpected field ${part.fieldname}`);
          }
        }
        if (!ingested) throw badRequest('no artifact file in the upload');
        if (declaredSize !== undefined && declaredSize !== ingested.size) throw badRequest(`size says ${declaredSize} bytes, the upload has ${ingested.size}`);
        const id = await storeIngested(ingested, description, req.userEmail!);
        req.log.info({ artifact_id: id, name: ingested.headers.name, size: ingested.size }, 'artifact stored');
        ingested = undefined;
        return reply.code(201).header('Location', `${BASE}/artifacts/${id}`).send();
      } finally {
        if (ingested) rmSync(ingested.tempPath, { force: true });
      }
    },
  );

  app.get<{ Querystring: { name?: string; device_type?: string } }>(
    `${BASE}/artifacts`,
    {
      preHandler: guard,
      schema: {
        tags,
        querystring: { type: 'object', properties: { name: { type: 'string' }, device_type: { type: 'string' } } },
        response: { 200: { type: 'array', items: artifactSchema }, 401: errorSchema },
      },
    },
    async (req) =>
      (await ctx.store
        .listArtifacts())
        .filter((a) => (!req.query.name || a.name === req.query.name) && (!req.query.device_type || a.device_types.includes(req.query.device_type)))
        .map(artifactView),
  );

  const sorters: Record<string, (a: ArtifactRow, b: ArtifactRow) => number> = {
    'name:asc': (a, b) => a.name.localeCompare(b.name),
    'name:desc': (a, b) => b.name.localeCompare(a.name),
    'modified:asc': (a, b) => a.modified.localeCompare(b.modified),
    'modified:desc': (a, b) => b.modified.localeCompare(a.modified),
  };
  app.get<{ Querystring: { name?: string; description?: string; device_type?: string; page: number; per_page: number; sort: string } }>(
    `${BASE}/artifacts/list`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'List artifacts, paged (what mender-cli 1.9.0 `artifacts list` calls)',
        querystring: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            description: { type: 'string' },
            device_type: { type: 'string' },
            ...pagingQuery,
            sort: { type: 'string', enum: Object.keys(sorters), default: 'name:asc' },
          },
        },
        response: { 200: { type: 'array', items: artifactSchema }, 400: errorSchema, 401: errorSchema },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const all = (await ctx.store
        .listArtifacts())
        .filter((a) => (!q.name || a.name === q.name) && (!q.description || a.description === q.description) && (!q.device_type || a.device_types.includes(q.device_type)))
        .sort(sorters[q.sort]);
      return sendPage(req, reply, all, q.page, q.per_page).map(artifactView);
    },
  );

  app.get<{ Params: { id: string } }>(
    `${BASE}/artifacts/:id`,
    { preHandler: guard, schema: { tags, params: idParams, response: { 200: artifactSchema, 400: errorSchema, 401: errorSchema, 404: errorSchema } } },
    async (req) => {
      const a = await ctx.store.artifact(req.params.id);
      if (!a) throw notFound('artifact not found');
      return artifactView(a);
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${BASE}/artifacts/:id`,
    { preHandler: guard, schema: { tags, params: idParams, response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema } } },
    async (req, reply) => {
      const a = await ctx.store.artifact(req.params.id);
      if (!a) throw notFound('artifact not found');
      if (await ctx.store.artifactNameInActiveDeployment(a.name)) throw conflict('artifact used by an active deployment');
      await ctx.store.deleteArtifact(a.id);
      ctx.blobs.remove(a.id);
      await ctx.store.audit(req.userEmail!, 'artifact.delete', 'artifact', a.id, { name: a.name });
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { id: string } }>(
    `${BASE}/artifacts/:id/download`,
    {
      preHandler: guard,
      schema: {
        tags,
        params: idParams,
        response: { 200: { type: 'object', properties: { uri: { type: 'string' }, expire: { type: 'string' } } }, 400: errorSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const a = await ctx.store.artifact(req.params.id);
      if (!a) throw notFound('artifact not found');
      return signedDownloadLink(ctx.secrets.linkKey, baseUrl(req, ctx.publicUrl), a.id, ctx.linkTtlSeconds);
    },
  );

  /** Releases: the artifacts of each name, with their notes and tags, filtered and sorted as Mender's query says. */
  async function releases(q: { name?: string; tag?: string; update_type?: string; device_type?: string; description?: string; sort?: string } = {}, exactName = false) {
    const byName = new Map<string, ArtifactRow[]>();
    for (const a of await ctx.store.listArtifacts()) byName.set(a.name, [...(byName.get(a.name) ?? []), a]);
    const all = await mapAsync([...byName.entries()], async ([name, arts]) => {
      const info = await ctx.store.releaseInfo(name);
      const modified = [info.modified ?? '', ...arts.map((a) => a.modified)].sort().at(-1)!;
      return { name, arts, notes: info.notes, tags: info.tags, modified };
    });
    const picked = all.filter(
      (r) =>
        (!q.name || (exactName ? r.name === q.name : r.name.includes(q.name))) &&
        (!q.tag || r.tags.includes(q.tag.toLowerCase())) &&
        (!q.update_type || r.arts.some((a) => updateTypes(a).includes(q.update_type!))) &&
        (!q.device_type || r.arts.some((a) => a.device_types.includes(q.device_type!))) &&
        (!q.description || r.arts.some((a) => a.description.includes(q.description!))),
    );
    const [field = 'name', dir = field === 'modified' ? 'desc' : 'asc'] = (q.sort ?? '').split(':').filter(Boolean);
    const key = (r: (typeof all)[number]) => (field === 'modified' ? r.modified : field === 'artifacts_count' ? String(r.arts.length).padStart(9, '0') : r.name);
    picked.sort((x, y) => key(x).localeCompare(key(y)) * (dir === 'desc' ? -1 : 1));
    return picked;
  }
  const updateTypes = (a: ArtifactRow) => (a.meta.updates ?? []).map((u) => u.type_info?.type).filter((t): t is string => !!t);
  const mustRelease = async (name: string) => {
    const r = (await releases()).find((x) => x.name === name);
    if (!r) throw notFound('release not found');
    return r;
  };
  const releaseV1 = (r: Awaited<ReturnType<typeof releases>>[number]) => ({ Name: r.name, modified: r.modified, Artifacts: r.arts.map(artifactView), ArtifactsCount: r.arts.length, tags: r.tags, notes: r.notes });
  const releaseV2 = (r: Awaited<ReturnType<typeof releases>>[number]) => ({ name: r.name, modified: r.modified, artifacts: r.arts.map(artifactView), artifacts_count: r.arts.length, tags: r.tags, notes: r.notes });

  const releaseV1Schema = {
    type: 'object',
    properties: { Name: { type: 'string' }, modified: { type: 'string' }, Artifacts: { type: 'array', items: artifactSchema }, ArtifactsCount: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } }, notes: { type: 'string' } },
  } as const;
  const releaseV2Schema = {
    type: 'object',
    properties: { name: { type: 'string' }, modified: { type: 'string' }, artifacts: { type: 'array', items: artifactSchema }, artifacts_count: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } }, notes: { type: 'string' } },
  } as const;
  const releaseQuery = {
    type: 'object',
    properties: {
      name: { type: 'string' },
      tag: { type: 'string' },
      update_type: { type: 'string' },
      device_type: { type: 'string' },
      description: { type: 'string' },
      sort: { type: 'string', pattern: '^(name|modified|artifacts_count)(:(asc|desc))?$' },
      ...pagingQuery,
    },
  } as const;
  type ReleaseQuery = { name?: string; tag?: string; update_type?: string; device_type?: string; description?: string; sort?: string; page: number; per_page: number };
  const releaseNameParams = { type: 'object', properties: { release_name: { type: 'string', minLength: 1 } } } as const;

  app.get<{ Querystring: ReleaseQuery }>(
    `${BASE}/deployments/releases`,
    {
      preHandler: guard,
      schema: { tags, summary: 'Releases: artifacts grouped by name (all of them)', querystring: releaseQuery, response: { 200: { type: 'array', items: releaseV1Schema }, 401: errorSchema } },
    },
    async (req) => (await releases(req.query, true)).map(releaseV1),
  );

  app.get<{ Querystring: ReleaseQuery }>(
    `${BASE}/deployments/releases/list`,
    { preHandler: guard, schema: { tags, summary: 'Releases, a page at a time', querystring: releaseQuery, response: { 200: { type: 'array', items: releaseV1Schema }, 401: errorSchema } } },
    async (req, reply) => sendPage(req, reply, await releases(req.query, true), req.query.page, req.query.per_page).map(releaseV1),
  );

  app.get<{ Querystring: ReleaseQuery }>(
    `${V2}/deployments/releases`,
    { preHandler: guard, schema: { tags, summary: 'Releases (v2 shape), a page at a time', querystring: releaseQuery, response: { 200: { type: 'array', items: releaseV2Schema }, 401: errorSchema } } },
    async (req, reply) => sendPage(req, reply, await releases(req.query), req.query.page, req.query.per_page).map(releaseV2),
  );

  app.get<{ Params: { release_name: string } }>(
    `${V2}/deployments/releases/:release_name`,
    { preHandler: guard, schema: { tags, params: releaseNameParams, response: { 200: releaseV2Schema, 401: errorSchema, 404: errorSchema } } },
    async (req) => releaseV2(await mustRelease(req.params.release_name)),
  );

  app.patch<{ Params: { release_name: string }; Body: { notes?: string } }>(
    `${V2}/deployments/releases/:release_name`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: "Edit a release's notes",
        params: releaseNameParams,
        body: { type: 'object', additionalProperties: false, properties: { notes: { type: 'string', maxLength: 1024 } } },
        response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const r = await mustRelease(req.params.release_name);
      await ctx.store.saveReleaseInfo(r.name, { notes: req.body.notes ?? '' });
      await ctx.store.audit(req.userEmail!, 'release.update', 'release', r.name, { notes: req.body.notes ?? '' });
      return reply.code(204).send();
    },
  );

  app.put<{ Params: { release_name: string }; Body: string[] }>(
    `${V2}/deployments/releases/:release_name/tags`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: "Replace a release's tags (lowercased; at most 20, each letters, digits, '-', '_', '.')",
        params: releaseNameParams,
        body: { type: 'array', maxItems: 20, items: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,1024}$' } },
        response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const r = await mustRelease(req.params.release_name);
      const tagsOf = [...new Set(req.body.map((x) => x.toLowerCase()))].sort();
      await ctx.store.saveReleaseInfo(r.name, { tags: tagsOf });
      await ctx.store.audit(req.userEmail!, 'release.tags', 'release', r.name, { tags: tagsOf });
      return reply.code(204).send();
    },
  );

  app.get(`${V2}/releases/all/tags`, { preHandler: guard, schema: { tags, response: { 200: { type: 'array', items: { type: 'string' } }, 401: errorSchema } } }, async () => ctx.store.releaseTags());

  app.get(`${V2}/releases/all/types`, { preHandler: guard, schema: { tags, response: { 200: { type: 'array', items: { type: 'string' } }, 401: errorSchema } } }, async () =>
    [...new Set((await ctx.store.listArtifacts()).flatMap(updateTypes))].sort(),
  );

  app.delete<{ Querystring: { name: string[] } }>(
    `${V2}/deployments/releases`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Delete releases (every artifact of each name)',
        querystring: { type: 'object', required: ['name'], properties: { name: { type: 'array', items: { type: 'string' }, minItems: 1 } } },
        response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      const busy = await filterAsync(req.query.name, (n) => ctx.store.artifactNameInActiveDeployment(n));
      if (busy.length) throw conflict(`releases used by an active deployment: ${busy.join(', ')}`);
      for (const name of req.query.name) {
        for (const a of await ctx.store.artifactsByName(name)) {
          await ctx.store.deleteArtifact(a.id);
          ctx.blobs.remove(a.id);
        }
        await ctx.store.deleteReleaseInfo(name);
        await ctx.store.audit(req.userEmail!, 'release.delete', 'release', name, {});
      }
      return reply.code(204).send();
    },
  );

  app.put<{ Params: { id: string }; Body: { description: string } }>(
    `${BASE}/artifacts/:id`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: "Edit an artifact's description",
        params: idParams,
        body: { type: 'object', required: ['description'], additionalProperties: false, properties: { description: { type: 'string', maxLength: 1024 } } },
        response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      if (!(await ctx.store.setArtifactDescription(req.params.id, req.body.description))) throw notFound('artifact not found');
      await ctx.store.audit(req.userEmail!, 'artifact.update', 'artifact', req.params.id, { description: req.body.description });
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { name?: string; description?: string; device_type?: string; page: number; per_page: number } }>(
    `${V2}/artifacts`,
    {
      preHandler: guard,
      schema: {
        tags,
        querystring: { type: 'object', properties: { name: { type: 'string' }, description: { type: 'string' }, device_type: { type: 'string' }, ...pagingQuery } },
        response: { 200: { type: 'array', items: artifactSchema }, 401: errorSchema },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const arts = (await ctx.store
        .listArtifacts())
        .filter((a) => (!q.name || a.name.includes(q.name)) && (!q.description || a.description.includes(q.description)) && (!q.device_type || a.device_types.includes(q.device_type)));
      return sendPage(req, reply, arts, q.page, q.per_page).map(artifactView);
    },
  );

  // No storage quota: limit 0 means none, as in Mender's open-source server.
  app.get(
    `${BASE}/limits/storage`,
    { preHandler: guard, schema: { tags, response: { 200: { type: 'object', properties: { limit: { type: 'integer' }, usage: { type: 'integer' } } }, 401: errorSchema } } },
    async () => ({ limit: 0, usage: (await ctx.store.listArtifacts()).reduce((n, a) => n + a.size, 0) }),
  );

  const softwareSchema = {
    type: 'object',
    properties: { name: { type: 'string' }, modified: { type: 'string' }, compatible_types: { type: 'array', items: { type: 'string' } }, kind: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } }, notes: { type: 'string' } },
  } as const;
  app.get<{ Querystring: ReleaseQuery & { name_prefix?: string; kind?: string } }>(
    '/api/management/v1alpha1/deployments/software',
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Software: releases (Flipside has no manifests)',
        querystring: { ...releaseQuery, properties: { ...releaseQuery.properties, name_prefix: { type: 'string' }, kind: { type: 'string', enum: ['release', 'manifest'] } } },
        response: { 200: { type: 'array', items: softwareSchema }, 400: errorSchema, 401: errorSchema },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const list = q.kind === 'manifest' ? [] : (await releases(q)).filter((r) => !q.name_prefix || r.name.startsWith(q.name_prefix));
      return sendPage(req, reply, list, q.page, q.per_page).map((r) => ({
        name: r.name,
        modified: r.modified,
        compatible_types: [...new Set(r.arts.flatMap((a) => a.device_types))].sort(),
        kind: 'release',
        tags: r.tags,
        notes: r.notes,
      }));
    },
  );
  app.get<{ Querystring: { kind?: string } }>(
    '/api/management/v1alpha1/deployments/software/tags',
    { preHandler: guard, schema: { tags, querystring: { type: 'object', properties: { kind: { type: 'string', enum: ['release', 'manifest'] } } }, response: { 200: { type: 'array', items: { type: 'string' } }, 400: errorSchema, 401: errorSchema } } },
    async (req) => (req.query.kind === 'manifest' ? [] : await ctx.store.releaseTags()),
  );

  // ---- artifacts/generate: a single-file artifact made here from one uploaded file.
  app.post(
    `${BASE}/artifacts/generate`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Make a single-file artifact from a file (multipart: name, description, device_types_compatible, type, args, file)',
        consumes: ['multipart/form-data'],
        response: { 201: { type: 'null' }, 400: errorSchema, 401: errorSchema, 409: errorSchema, 413: errorSchema },
      },
    },
    async (req, reply) => {
      if (!req.isMultipart()) throw badRequest('multipart/form-data expected');
      const dir = mkdtempSync(join(tmpdir(), 'flipside-generate-'));
      const fields: Record<string, string> = {};
      const deviceTypes: string[] = [];
      let file: { path: string; name: string } | undefined;
      try {
        for await (const part of req.parts()) {
          if (part.type === 'file') {
            if (part.fieldname !== 'file' || file) throw badRequest('one file, in the field "file"');
            const path = join(dir, 'payload');
            await pipeline((part as MultipartFile).file, createWriteStream(path));
            if ((part as MultipartFile).file.truncated) throw new ApiError(413, `file larger than the limit of ${ctx.maxArtifactBytes} bytes`);
            file = { path, name: (part as MultipartFile).filename };
          } else if (part.fieldname === 'device_types_compatible') {
            deviceTypes.push(...String(part.value).split(',').map((x) => x.trim()).filter(Boolean));
          } else if (['name', 'description', 'type', 'args', 'size'].includes(part.fieldname)) {
            fields[part.fieldname] = String(part.value);
          } else {
            throw badRequest(`unexpected field ${part.fieldname}`);
          }
        }
        if (!file) throw badRequest('no file in the upload');
        if (!fields.name) throw badRequest('name is required');
        if (deviceTypes.length === 0) throw badRequest('device_types_compatible is required');
        if (fields.type !== 'single_file' && fields.type !== 'single-file') throw badRequest(`type ${fields.type ?? '(none)'} cannot be generated: only single_file`);
        let args: { filename?: unknown; dest_dir?: unknown } = {};
        try {
          args = fields.args ? JSON.parse(fields.args) : {};
        } catch {
          throw badRequest('args must be a JSON object');
        }
        const filename = typeof args.filename === 'string' && args.filename ? args.filename : file.name;
        const destDir = typeof args.dest_dir === 'string' ? args.dest_dir : '';
        if (!destDir.startsWith('/')) throw badRequest('args.dest_dir must be an absolute directory on the device');
        if (!filename || filename.includes('/')) throw badRequest('args.filename must be a plain file name');
        // What single-file-artifact-gen writes: the file, and its target as three small payload files.
        const out = join(dir, 'generated.mender');
        await writeArtifact(
          {
            type: 'single-file',
            kind: 'module-image',
            name: fields.name,
            deviceTypes,
            files: [
              { name: filename, path: file.path },
              { name: 'dest_dir', content: Buffer.from(destDir) },
              { name: 'filename', content: Buffer.from(filename) },
              { name: 'permissions', content: Buffer.from('644') },
            ],
            tmpDir: dir,
          },
          out,
        );
        const ingested = await ingestArtifact(createReadStream(out), ctx.blobs, ctx.maxArtifactBytes);
        try {
          const id = await storeIngested(ingested, fields.description ?? '', req.userEmail!);
          // Mender's Location is the request path plus the id (artifacts/generate/{id}); its UI takes
          // "/generate" out of it and polls artifacts/{id} until the artifact is there.
          return reply.code(201).header('Location', `${BASE}/artifacts/generate/${id}`).send();
        } finally {
          rmSync(ingested.tempPath, { force: true });
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  // ---- artifacts/directupload: a signed link to PUT the artifact to, then `complete` keeps it.
  // Mender hands out an object-store link; here the link points back at this server, which checks
  // the artifact as it arrives and holds it until complete or expiry. The signed link is the only
  // record of an issued upload; what arrived is staged as a file in the data dir's
  // direct-uploads/ (emptied at start), so under --workers the PUT and the complete may reach
  // different workers.
  const staged = (id: string) => join(ctx.blobs.stagingDir, id);
  type Staged = { expire: number; ingested: IngestedArtifact };
  const readStaged = (path: string): Staged | undefined => {
    try {
      return deserialize(readFileSync(path)) as Staged;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  };
  const dropExpiredUploads = () => {
    for (const name of readdirSync(ctx.blobs.stagingDir)) {
      const u = readStaged(join(ctx.blobs.stagingDir, name));
      if (!u || u.expire > Date.now()) continue;
      rmSync(u.ingested.tempPath, { force: true });
      rmSync(join(ctx.blobs.stagingDir, name), { force: true });
    }
  };

  app.post(
    `${BASE}/artifacts/directupload`,
    {
      preHandler: guard,
      schema: { tags, summary: 'A link to PUT an artifact to', response: { 200: { type: 'object', properties: { id: { type: 'string' }, uri: { type: 'string' }, expire: { type: 'string' } } }, 401: errorSchema } },
    },
    async (req) => {
      dropExpiredUploads();
      const id = randomUUID();
      const link = signedUploadLink(ctx.secrets.linkKey, `${baseUrl(req, ctx.publicUrl)}${BASE}/artifacts/directupload/${id}/upload`, id, ctx.linkTtlSeconds);
      return { id, ...link };
    },
  );

  // The upload target takes the raw artifact whatever content type the client gives it.
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));
  app.put<{ Params: { id: string }; Querystring: { 'x-men-expire': string; 'x-men-signature': string } }>(
    `${BASE}/artifacts/directupload/:id/upload`,
    {
      // The signature in the link is the authorization, as for download links.
      config: { permission: 'public' },
      schema: {
        tags,
        summary: 'The direct-upload link (signed; no Authorization header)',
        querystring: { type: 'object', required: ['x-men-expire', 'x-men-signature'], properties: { 'x-men-expire': { type: 'string' }, 'x-men-signature': { type: 'string' } } },
        response: { 200: { type: 'null' }, 400: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema, 413: errorSchema },
      },
    },
    async (req, reply) => {
      const check = checkUploadLink(ctx.secrets.linkKey, req.params.id, req.query['x-men-expire'], req.query['x-men-signature']);
      if (check !== 'ok') throw forbidden(check === 'expired' ? 'upload link expired' : 'bad upload link signature');
      // The signature covers the id: a valid link names an upload this server issued.
      if (existsSync(staged(req.params.id))) throw conflict('already uploaded');
      const ingested = await ingestArtifact(req.raw, ctx.blobs, ctx.maxArtifactBytes);
      try {
        // 'wx': of two PUTs racing on one link, the first to finish keeps its upload.
        writeFileSync(staged(req.params.id), serialize({ expire: Date.parse(req.query['x-men-expire']), ingested } satisfies Staged), { flag: 'wx', mode: 0o600 });
      } catch (e) {
        rmSync(ingested.tempPath, { force: true });
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw conflict('already uploaded');
        throw e;
      }
      return reply.code(200).send();
    },
  );

  app.post<{ Params: { id: string }; Body: { size?: number } | undefined }>(
    `${BASE}/artifacts/directupload/:id/complete`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Keep a direct upload',
        body: { type: 'object', nullable: true, properties: { size: { type: 'integer', minimum: 0 }, updates: { type: 'array' } } },
        response: { 202: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      const path = staged(req.params.id);
      const u = /^[\w-]{1,64}$/.test(req.params.id) ? readStaged(path) : undefined;
      if (!u) throw notFound('nothing uploaded under this id');
      const ingested = u.ingested;
      if (req.body?.size !== undefined && req.body.size !== ingested.size) throw badRequest(`size says ${req.body.size} bytes, the upload has ${ingested.size}`);
      // Claimed by renaming: of two completes racing (in two workers), one keeps the upload.
      const claimed = `${path}.${randomUUID()}.claimed`;
      try {
        renameSync(path, claimed);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound('nothing uploaded under this id');
        throw e;
      }
      rmSync(claimed, { force: true });
      try {
        await storeIngested(ingested, '', req.userEmail!);
      } finally {
        rmSync(ingested.tempPath, { force: true });
      }
      return reply.code(202).send();
    },
  );
}
