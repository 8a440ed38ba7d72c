// Artifacts (upload, list, show, delete, download link) and releases (artifacts grouped by name).
import type { FastifyInstance } from 'fastify';
import type { MultipartFile } from '@fastify/multipart';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { ServerContext } from '../context.js';
import { userGuard } from '../auth/guards.js';
import { ingestArtifact, artifactMeta } from '../artifacts/ingest.js';
import { signedDownloadLink } from '../artifacts/links.js';
import { baseUrl } from '../request-url.js';
import { errorSchema, badRequest, conflict, notFound } from '../http-errors.js';
import { now, type ArtifactRow } from '../store/store.js';
import { pagingQuery, sendPage } from './paging.js';

const BASE = '/api/management/v1/deployments';
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
        const meta = artifactMeta(ingested.headers);
        const name = ingested.headers.name;
        const types = ingested.headers.depends.device_type;
        const clash = ctx.store.artifactsByName(name).find((a) => a.device_types.some((t) => types.includes(t)));
        if (clash) throw conflict('an artifact with the same name and depends already exists');
        const id = randomUUID();
        ctx.blobs.commit(ingested.tempPath, id);
        try {
          ctx.store.insertArtifact({ id, name, description, device_types: types, size: ingested.size, checksum: ingested.checksum, meta, modified: now() });
        } catch (e) {
          ctx.blobs.remove(id);
          throw e;
        }
        ctx.store.audit(req.userEmail!, 'artifact.upload', 'artifact', id, { name, size: ingested.size });
        req.log.info({ artifact_id: id, name, size: ingested.size }, 'artifact stored');
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
      ctx.store
        .listArtifacts()
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
      const all = ctx.store
        .listArtifacts()
        .filter((a) => (!q.name || a.name === q.name) && (!q.description || a.description === q.description) && (!q.device_type || a.device_types.includes(q.device_type)))
        .sort(sorters[q.sort]);
      return sendPage(req, reply, all, q.page, q.per_page).map(artifactView);
    },
  );

  app.get<{ Params: { id: string } }>(
    `${BASE}/artifacts/:id`,
    { preHandler: guard, schema: { tags, params: idParams, response: { 200: artifactSchema, 400: errorSchema, 401: errorSchema, 404: errorSchema } } },
    async (req) => {
      const a = ctx.store.artifact(req.params.id);
      if (!a) throw notFound('artifact not found');
      return artifactView(a);
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${BASE}/artifacts/:id`,
    { preHandler: guard, schema: { tags, params: idParams, response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema } } },
    async (req, reply) => {
      const a = ctx.store.artifact(req.params.id);
      if (!a) throw notFound('artifact not found');
      if (ctx.store.artifactNameInActiveDeployment(a.name)) throw conflict('artifact used by an active deployment');
      ctx.store.deleteArtifact(a.id);
      ctx.blobs.remove(a.id);
      ctx.store.audit(req.userEmail!, 'artifact.delete', 'artifact', a.id, { name: a.name });
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
      const a = ctx.store.artifact(req.params.id);
      if (!a) throw notFound('artifact not found');
      return signedDownloadLink(ctx.secrets.linkKey, baseUrl(req, ctx.publicUrl), a.id, ctx.linkTtlSeconds);
    },
  );

  function releases(name?: string) {
    const byName = new Map<string, ArtifactRow[]>();
    for (const a of ctx.store.listArtifacts()) {
      if (name && a.name !== name) continue;
      byName.set(a.name, [...(byName.get(a.name) ?? []), a]);
    }
    return [...byName.entries()].sort(([x], [y]) => x.localeCompare(y));
  }

  app.get<{ Querystring: { name?: string } }>(
    `${BASE}/deployments/releases`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Releases: artifacts grouped by name',
        querystring: { type: 'object', properties: { name: { type: 'string' } } },
        response: {
          200: { type: 'array', items: { type: 'object', properties: { Name: { type: 'string' }, Artifacts: { type: 'array', items: artifactSchema }, ArtifactsCount: { type: 'integer' } } } },
          401: errorSchema,
        },
      },
    },
    async (req) => releases(req.query.name).map(([Name, arts]) => ({ Name, Artifacts: arts.map(artifactView), ArtifactsCount: arts.length })),
  );

  app.get<{ Querystring: { name?: string } }>(
    '/api/management/v2/deployments/deployments/releases',
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Releases (v2 shape)',
        querystring: { type: 'object', properties: { name: { type: 'string' } } },
        response: {
          200: {
            type: 'array',
            items: { type: 'object', properties: { name: { type: 'string' }, artifacts: { type: 'array', items: artifactSchema }, artifacts_count: { type: 'integer' }, modified: { type: 'string' } } },
          },
          401: errorSchema,
        },
      },
    },
    async (req) =>
      releases(req.query.name).map(([name, arts]) => ({
        name,
        artifacts: arts.map(artifactView),
        artifacts_count: arts.length,
        modified: arts.map((a) => a.modified).sort().at(-1),
      })),
  );
}
