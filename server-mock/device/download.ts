// Artifact download through a signed, expiring link: no Authorization header, HTTP Range
// supported (one range: 206 with Content-Range, 416 when unsatisfiable), ETag and Last-Modified
// so a client can tell the artifact behind a link is still the same one. A link made for a device
// in a deployment (deployment_id, device_id under the signature) has its bytes counted per device
// and deployment (deployments/download-progress.ts): what the deployment page shows.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Transform, pipeline, type Readable } from 'node:stream';
import type { ServerContext } from '../context.js';
import { checkArtifactLink, checkConfigurationLink, CONFIGURATION_DOWNLOAD_PATH, DOWNLOAD_PATH, type LinkHolder } from '../artifacts/links.js';
import { writeArtifactToBuffer } from '../../artifact/to-buffer.js';
import { errorSchema, forbidden, notFound, ApiError } from '../http-errors.js';

export function parseRange(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null; // not a form we serve: send it all
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

/**
 * The artifact of a configuration deployment, as Mender's deployments service generates it: one
 * `mender-configure` payload with no files, the configuration as its meta-data, the deployment's
 * artifact name, and a provide the next configuration replaces. The mender-configure update module
 * applies it on the device.
 */
export function configurationArtifact(artifactName: string, deviceType: string, configuration: Record<string, string>): Promise<Buffer> {
  return writeArtifactToBuffer({
    type: 'mender-configure',
    kind: 'module-image',
    name: artifactName,
    deviceTypes: [deviceType],
    compression: 'none',
    metaData: configuration,
    provides: { 'data-partition.mender-configure.version': artifactName },
    clearsProvides: ['data-partition.mender-configure.*'],
    noDefaultSoftwareVersion: true,
    noDefaultClearsProvides: true,
  });
}

export async function deviceDownloadRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  /** Counts what the stream sends to the link's holder; HEAD sends nothing and counts nothing. */
  async function counted(req: FastifyRequest, reply: FastifyReply, file: Readable, holder: LinkHolder | undefined, artifact: { id: string; size: number }, start: number): Promise<Readable> {
    if (!holder || req.method !== 'GET') return file;
    const transfer = await ctx.downloads.begin(holder, artifact, start);
    // A Transform, not a 'data' listener on the file: a listener would start the bytes flowing
    // before Fastify pipes them to the socket, and lose them.
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        transfer.sent(chunk.length);
        done(null, chunk);
      },
    });
    pipeline(file, counter, () => {}); // an error reaches the response through counter
    // 'close' on the response however it ended: all sent, or the device went away mid-way.
    reply.raw.once('close', () => transfer.end());
    return counter;
  }


  app.get<{ Params: { deployment_id: string; device_type: string; device_id: string }; Querystring: { 'x-men-expire': string; 'x-men-signature': string } }>(
    `${CONFIGURATION_DOWNLOAD_PATH}/:deployment_id/:device_type/:device_id`,
    {
      schema: {
        tags: ['Device API'],
        summary: "Download a configuration deployment's artifact through a signed link",
        params: {
          type: 'object',
          properties: { deployment_id: { type: 'string', maxLength: 64 }, device_type: { type: 'string', minLength: 1, maxLength: 4096 }, device_id: { type: 'string', maxLength: 64 } },
        },
        querystring: {
          type: 'object',
          required: ['x-men-expire', 'x-men-signature'],
          properties: { 'x-men-expire': { type: 'string' }, 'x-men-signature': { type: 'string' }, tenant_id: { type: 'string' } },
        },
        response: { 400: errorSchema, 403: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const { deployment_id: deploymentId, device_type: deviceType, device_id: deviceId } = req.params;
      const check = checkConfigurationLink(ctx.secrets.linkKey, deploymentId, deviceType, deviceId, req.query['x-men-expire'], req.query['x-men-signature']);
      if (check === 'bad-signature') throw forbidden('invalid download link signature');
      if (check === 'expired') throw forbidden('download link expired');
      const dep = await ctx.store.deployment(deploymentId);
      const config = await ctx.store.configurationDeployment(deploymentId);
      if (!dep || !config || config.device_id !== deviceId) throw notFound('configuration deployment not found for this device');
      const artifact = await configurationArtifact(dep.artifact_name, deviceType, config.configuration);
      return reply
        .type('application/vnd.mender-artifact')
        .header('Content-Disposition', 'attachment; filename="artifact.mender"')
        .header('Content-Length', artifact.length)
        .send(artifact);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { 'x-men-expire': string; 'x-men-signature': string; deployment_id?: string; device_id?: string } }>(
    `${DOWNLOAD_PATH}/:id`,
    {
      schema: {
        tags: ['Device API'],
        summary: 'Download an artifact through a signed link',
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' } } },
        querystring: {
          type: 'object',
          required: ['x-men-expire', 'x-men-signature'],
          properties: {
            'x-men-expire': { type: 'string' },
            'x-men-signature': { type: 'string' },
            deployment_id: { type: 'string', description: 'Flipside: the deployment a device link was made for (signed)' },
            device_id: { type: 'string', description: 'Flipside: the device a device link was made for (signed)' },
          },
        },
        response: { 400: errorSchema, 403: errorSchema, 404: errorSchema, 416: errorSchema },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const { check, holder } = checkArtifactLink(ctx.secrets.linkKey, req.params.id, { expire: q['x-men-expire'], signature: q['x-men-signature'], deploymentId: q.deployment_id, deviceId: q.device_id });
      if (check === 'bad-signature') throw forbidden('invalid download link signature');
      if (check === 'expired') throw forbidden('download link expired');
      const artifact = await ctx.store.artifact(req.params.id);
      if (!artifact) throw notFound('artifact not found');
      const size = artifact.size;
      // The artifact's checksum as a strong ETag: a client resuming a download after a restart
      // checks it still gets the same bytes (client/download-spool.ts).
      reply.header('Accept-Ranges', 'bytes').header('ETag', `"${artifact.checksum}"`).type('application/vnd.mender-artifact');
      const modified = new Date(artifact.modified);
      if (!Number.isNaN(modified.getTime())) reply.header('Last-Modified', modified.toUTCString());
      const range = typeof req.headers.range === 'string' ? parseRange(req.headers.range, size) : null;
      if (range === 'unsatisfiable') {
        reply.header('Content-Range', `bytes */${size}`);
        throw new ApiError(416, 'requested range not satisfiable');
      }
      if (range) {
        reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${size}`).header('Content-Length', range.end - range.start + 1);
        return reply.send(await counted(req, reply, ctx.blobs.read(artifact.id, range.start, range.end), holder, artifact, range.start));
      }
      reply.header('Content-Length', size);
      return reply.send(await counted(req, reply, ctx.blobs.read(artifact.id, 0, size - 1), holder, artifact, 0));
    },
  );
}
