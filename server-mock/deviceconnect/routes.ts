// Mender's deviceconnect service: devices hold a WebSocket to the server
// (GET /api/devices/v1/deviceconnect/connect), users open one to a device
// (GET /api/management/v1/deviceconnect/devices/:id/connect) and the server bridges the two,
// stamping the user's session id on every message; file transfer goes through HTTP download and
// upload routes that the server turns into a session of its own. Only accepted devices may
// connect; the ConnectToDevices permission (auth/roles.ts) guards the user side. Sessions are
// recorded in the audit log when they start and stop.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket, RawData } from 'ws';
import type { ServerContext } from '../context.js';
import { deviceGuard } from '../auth/guards.js';
import { badRequest, conflict, errorSchema, forbidden, notFound } from '../http-errors.js';
import { CONTROL, MENDER_CLIENT, MENDER_CLIENT_STATUS, PROTO, SHELL, numberProp, ProtocolError, decodeMessage, encodeMessage, errorMessage, errorText, type ProtoMsg } from '../../connect-protocol/protocol.js';
import type { Link } from './hub.js';
import { SessionChannel } from './channel.js';
import { downloadRemote, uploadRemote } from './file-transfer.js';
import { SessionRecorder } from './recording.js';
import { pruneRecordings, retentionPolicy, type RecordingRetention } from './retention.js';

const MGMT = '/api/management/v1/deviceconnect';
const tags = ['Management API: deviceconnect'];
const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const;

/** WebSocket close codes: 1007 = a frame we cannot read, 1011 = the other side went away. */
const CLOSE_BAD_FRAME = 1007;
const CLOSE_PEER_GONE = 1011;
/** Playback's pause between two chunks when the caller gives no sleep_ms. */
const PLAYBACK_SLEEP_MS = 100;

const frameBytes = (data: RawData): Uint8Array => (Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data);
/** A close reason is at most 123 bytes. */
const reason = (text: string) => Buffer.from(text).subarray(0, 120).toString('utf8');

function refuseFrame(ws: WebSocket, sid: string | undefined, e: ProtocolError): void {
  ws.send(encodeMessage(errorMessage(PROTO.control, sid, `malformed message: ${e.message}`, undefined, true)));
  ws.close(CLOSE_BAD_FRAME, reason(`malformed message: ${e.message}`));
}

/** Hands each frame, decoded, to `handle`; a malformed one is refused and closes the socket. */
function onFrames(ws: WebSocket, sid: string | undefined, handle: (msg: ProtoMsg) => void, onMalformed?: (e: ProtocolError) => void): void {
  ws.on('message', (data) => {
    let msg: ProtoMsg;
    try {
      msg = decodeMessage(frameBytes(data));
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      onMalformed?.(e);
      return refuseFrame(ws, sid, e);
    }
    handle(msg);
  });
}

export interface DeviceConnectOptions {
  ctx: ServerContext;
  /** How long a file transfer waits for the device's next message (default 60 s). */
  transferIdleMs?: number;
  /** Interval of WebSocket pings to devices; a device that missed one is dropped (default 30 s). */
  pingIntervalMs?: number;
  /** How long and how much of the terminal recordings is kept (retention.ts has the defaults); absent: kept forever. */
  recordings?: Partial<RecordingRetention>;
}

export async function deviceConnectRoutes(app: FastifyInstance, opts: DeviceConnectOptions): Promise<void> {
  const { ctx } = opts;
  const hub = ctx.connect;
  const idleMs = opts.transferIdleMs ?? 60_000;
  const pingMs = opts.pingIntervalMs ?? 30_000;
  // Retention applies where the caller asks for it (flipside-server always does): a one-off
  // command on the data dir (init, set-password) must not prune by defaults it was not given.
  const retention = opts.recordings ? retentionPolicy(opts.recordings) : null;
  const recording = new Set<string>();
  const prune = async () => {
    if (!retention) return;
    const n = await pruneRecordings(ctx.store, retention, recording);
    if (n > 0) app.log.info({ deleted: n, max_age_days: retention.maxAgeDays, max_total_bytes: retention.maxTotalBytes }, 'old session recordings deleted');
  };
  const pruneSoon = () => void prune().catch((err: unknown) => app.log.error({ err }, 'pruning session recordings failed'));
  if (retention) {
    await prune();
    const pruneTimer = setInterval(pruneSoon, 3600_000);
    pruneTimer.unref();
    app.addHook('onClose', async () => clearInterval(pruneTimer));
  }

  // ---- the device side

  app.route({
    method: 'GET',
    url: '/api/devices/v1/deviceconnect/connect',
    schema: { tags: ['Device API: deviceconnect'], summary: 'The device connection (WebSocket)', response: { 400: errorSchema, 401: errorSchema, 403: errorSchema } },
    preHandler: [
      deviceGuard(ctx),
      async (req) => {
        const dev = await ctx.store.device(req.deviceId!);
        if (dev?.status !== 'accepted') throw forbidden(`device ${req.deviceId} is ${dev?.status ?? 'unknown'}, not accepted`);
      },
    ],
    handler: async () => {
      throw badRequest('this route needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)');
    },
    wsHandler: (ws: WebSocket, req: FastifyRequest) => {
      const link = hub.attach(req.deviceId!, ws);
      req.log.info({ device: link.deviceId }, 'device connected (deviceconnect)');
      let alive = true;
      ws.on('pong', () => (alive = true));
      const ping = setInterval(() => {
        if (!alive) return ws.terminate();
        alive = false;
        ws.ping();
      }, pingMs);
      const malformed = (e: ProtocolError) => req.log.warn({ device: link.deviceId, err: e.message }, 'malformed deviceconnect frame from a device');
      onFrames(ws, undefined, (msg) => {
        if (msg.hdr.proto === PROTO.control && msg.hdr.typ === CONTROL.ping && !msg.hdr.sid) {
          link.send({ hdr: { proto: PROTO.control, typ: CONTROL.pong } });
          return;
        }
        const peer = msg.hdr.sid ? link.sessions.get(msg.hdr.sid) : undefined;
        if (peer) peer.deliver(msg);
        else if (msg.hdr.proto === PROTO.menderClient) {
          // The answer to check-update / send-inventory: status 2 says the device's client did not act.
          if (numberProp(msg, 'status') === MENDER_CLIENT_STATUS.error) req.log.warn({ device: link.deviceId, typ: msg.hdr.typ, err: errorText(msg) }, 'the device did not act on the request');
          else req.log.info({ device: link.deviceId, typ: msg.hdr.typ }, 'the device took the request');
        } else if (msg.hdr.typ === CONTROL.error) req.log.warn({ device: link.deviceId, proto: msg.hdr.proto, err: errorText(msg) }, 'the device answered with an error');
        else req.log.debug({ device: link.deviceId, sid: msg.hdr.sid, typ: msg.hdr.typ }, 'message for no open session dropped');
      }, malformed);
      ws.on('close', (code, why) => {
        clearInterval(ping);
        hub.detach(link, `closed (${code}${why.length ? `: ${why.toString('utf8')}` : ''})`);
        req.log.info({ device: link.deviceId, code }, 'device disconnected (deviceconnect)');
      });
      ws.on('error', (err) => req.log.info({ device: link.deviceId, err: err.message }, 'device connection error'));
    },
  });

  // ---- the user side

  async function acceptedDevice(id: string) {
    const dev = await ctx.store.device(id);
    if (!dev) throw notFound(`device ${id} not found`);
    if (dev.status !== 'accepted') throw conflict(`device ${id} is ${dev.status}, not accepted`);
    return dev;
  }
  async function connectedLink(id: string): Promise<Link> {
    await acceptedDevice(id);
    const link = await hub.find(id);
    if (!link) throw conflict(`device ${id} is not connected`);
    return link;
  }
  /** The device's link, from the WebSocket route's preHandler to its handler. */
  const found = new WeakMap<FastifyRequest, Link>();
  const who = (req: FastifyRequest) => ({ user_id: req.userId!, user_email: req.userEmail! });

  app.get<{ Params: { id: string } }>(
    `${MGMT}/devices/:id`,
    { schema: { tags, summary: "The device's connection state", params: idParams, response: { 404: errorSchema } } },
    async (req) => {
      if (!(await ctx.store.device(req.params.id))) throw notFound(`device ${req.params.id} not found`);
      return hub.connectionState(req.params.id);
    },
  );

  // Mender's check-update and send-inventory: a message to the device's connection, which its
  // update client acts on (mender-connect runs `mender check-update`). 202 once sent, as in
  // Mender: the device's answer (status 1 or 2) comes later and is only logged.
  for (const [path, typ, what] of [
    ['check-update', MENDER_CLIENT.checkUpdate, 'Ask the device to check for an update now'],
    ['send-inventory', MENDER_CLIENT.sendInventory, 'Ask the device to send its inventory now'],
  ] as const) {
    app.post<{ Params: { id: string } }>(
      `${MGMT}/devices/:id/${path}`,
      { schema: { tags, summary: what, params: idParams, response: { 404: errorSchema, 409: errorSchema } } },
      async (req, reply) => {
        const link = await connectedLink(req.params.id);
        if (!link.send({ hdr: { proto: PROTO.menderClient, typ, props: { user_id: req.userId } } })) throw conflict(`device ${req.params.id} is not connected`);
        await ctx.store.audit(req.userEmail!, `deviceconnect.${path.replace('-', '_')}`, 'device', link.deviceId, {});
        return reply.code(202).send();
      },
    );
  }

  app.get<{ Querystring: { device_id?: string } }>(
    `${MGMT}/sessions`,
    { schema: { tags, summary: 'Sessions running now (terminal, port forward, file transfer)', querystring: { type: 'object', properties: { device_id: { type: 'string' } } } } },
    async (req) => hub.allSessions(req.query.device_id),
  );

  app.route<{ Params: { id: string } }>({
    method: 'GET',
    url: `${MGMT}/devices/:id/connect`,
    schema: { tags, summary: 'A session with the device (WebSocket): remote terminal, port forward', params: idParams, response: { 400: errorSchema, 404: errorSchema, 409: errorSchema } },
    preHandler: async (req) => {
      // Found here, where waiting is allowed (the device may be in another worker).
      found.set(req, await connectedLink(req.params.id));
    },
    handler: async () => {
      throw badRequest('this route needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)');
    },
    wsHandler: (ws: WebSocket, req: FastifyRequest<{ Params: { id: string } }>) => {
      const link = found.get(req);
      found.delete(req);
      if (!link) return ws.close(CLOSE_PEER_GONE, 'the device disconnected');
      let ended = false;
      let shell = false;
      // The terminal's output is recorded for playback once the user starts a shell.
      let recorder: SessionRecorder | null = null;
      const started = Date.now();
      const info = hub.openSession(
        link,
        {
          deliver: (msg) => {
            if (msg.hdr.proto === PROTO.shell && msg.hdr.typ === SHELL.stop) shell = false;
            if (msg.hdr.proto === PROTO.shell && msg.hdr.typ === SHELL.data && msg.body) recorder?.output(msg.body);
            if (ws.readyState === ws.OPEN) ws.send(encodeMessage(msg));
          },
          deviceGone: (why) => ws.close(CLOSE_PEER_GONE, reason(`the device's connection ended: ${why}`)),
        },
        { ...who(req), kind: 'connect' },
      );
      // Not awaited: the user's frames must find their handler from the first one on.
      const unsaved = (err: unknown) => req.log.warn({ err }, 'deviceconnect session record not saved');
      ctx.store.audit(req.userEmail!, 'deviceconnect.session_start', 'device', link.deviceId, { session_id: info.id }).catch(unsaved);
      onFrames(ws, info.id, (msg) => {
        msg.hdr.sid = info.id;
        if (msg.hdr.proto === PROTO.shell && msg.hdr.typ === SHELL.new) {
          shell = true;
          if (!recorder) {
            recording.add(info.id);
            recorder = new SessionRecorder(ctx.store, info.id, link.deviceId, req.userEmail!);
          }
          msg.hdr.props = { ...msg.hdr.props, user_id: req.userId };
        }
        if (msg.hdr.proto === PROTO.shell && msg.hdr.typ === SHELL.stop) shell = false;
        if (!link.send(msg)) ws.close(CLOSE_PEER_GONE, 'the device is not connected');
      });
      ws.on('close', () => {
        if (ended) return;
        ended = true;
        // The device ends what the user left running.
        if (shell) link.send({ hdr: { proto: PROTO.shell, typ: SHELL.stop, sid: info.id } });
        link.send({ hdr: { proto: PROTO.control, typ: CONTROL.close, sid: info.id } });
        hub.closeSession(link, info.id);
        const seconds = Math.round((Date.now() - started) / 1000);
        void (async () => {
          try {
            await recorder?.end();
          } finally {
            recording.delete(info.id);
          }
          await ctx.store.audit(req.userEmail!, 'deviceconnect.session_stop', 'device', link.deviceId, { session_id: info.id, seconds });
          if (recorder) await prune();
        })().catch(unsaved);
      });
      ws.on('error', (err) => req.log.info({ err: err.message }, 'user connection error'));
    },
  });

  // Playback of a recorded terminal session: the output it showed, as shell messages on a WebSocket,
  // sleep_ms apart; then a shell stop and a normal close.
  app.route<{ Params: { session_id: string }; Querystring: { sleep_ms?: number } }>({
    method: 'GET',
    url: `${MGMT}/sessions/:session_id/playback`,
    schema: {
      tags,
      summary: 'Play back a recorded terminal session (WebSocket)',
      params: { type: 'object', properties: { session_id: { type: 'string', minLength: 1, maxLength: 128 } }, required: ['session_id'] },
      querystring: { type: 'object', properties: { sleep_ms: { type: 'integer', minimum: 0, maximum: 10_000 } } },
      response: { 400: errorSchema, 404: errorSchema },
    },
    preHandler: async (req) => {
      if (!(await ctx.store.recording(req.params.session_id))) throw notFound(`no recording of session ${req.params.session_id}`);
    },
    handler: async () => {
      throw badRequest('this route needs a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket)');
    },
    wsHandler: (ws: WebSocket, req: FastifyRequest<{ Params: { session_id: string }; Querystring: { sleep_ms?: number } }>) => {
      const sid = req.params.session_id;
      const sleepMs = req.query.sleep_ms ?? PLAYBACK_SLEEP_MS;
      let open = true;
      ws.on('close', () => (open = false));
      ws.on('error', (err) => req.log.info({ err: err.message }, 'playback connection error'));
      void (async () => {
        await ctx.store.audit(req.userEmail!, 'deviceconnect.playback', 'device', (await ctx.store.recording(sid))!.device_id, { session_id: sid });
        let next = 0;
        for (;;) {
          const page = await ctx.store.recordingChunks(sid, next, 64);
          if (page.length === 0) break;
          for (const chunk of page) {
            if (!open) return;
            ws.send(encodeMessage({ hdr: { proto: PROTO.shell, typ: SHELL.data, sid }, body: chunk.data }));
            if (sleepMs > 0) await new Promise((r) => setTimeout(r, sleepMs));
          }
          next = page.at(-1)!.seq + 1;
        }
        if (!open) return;
        ws.send(encodeMessage({ hdr: { proto: PROTO.shell, typ: SHELL.stop, sid } }));
        ws.close(1000, 'end of the recording');
      })().catch((e: Error) => {
        req.log.warn({ err: e.message, session_id: sid }, 'playback failed');
        if (open) ws.close(CLOSE_PEER_GONE, reason(`playback failed: ${e.message}`));
      });
    },
  });

  app.get<{ Params: { id: string }; Querystring: { path: string } }>(
    `${MGMT}/devices/:id/download`,
    {
      schema: {
        tags,
        summary: 'Download a file from the device',
        params: idParams,
        querystring: { type: 'object', properties: { path: { type: 'string', minLength: 1, maxLength: 4096 } }, required: ['path'] },
        response: { 400: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      const link = await connectedLink(req.params.id);
      const ch = new SessionChannel(hub, link, idleMs);
      ch.info = hub.openSession(link, ch, { ...who(req), kind: 'download' });
      const path = req.query.path;
      try {
        const { info, stream } = await downloadRemote(ch, path);
        await ctx.store.audit(req.userEmail!, 'deviceconnect.download', 'device', link.deviceId, { session_id: ch.sid, path, size: info.size });
        void reply.headers({
          'content-type': 'application/octet-stream',
          'content-length': String(info.size),
          'x-men-file-path': path,
          'x-men-file-size': String(info.size),
          'x-men-file-mode': (info.mode & 0o7777).toString(8),
          ...(info.uid !== undefined ? { 'x-men-file-uid': String(info.uid) } : {}),
          ...(info.gid !== undefined ? { 'x-men-file-gid': String(info.gid) } : {}),
        });
        return reply.send(stream);
      } catch (e) {
        ch.close();
        throw e;
      }
    },
  );

  app.put<{ Params: { id: string } }>(
    `${MGMT}/devices/:id/upload`,
    { schema: { tags, summary: 'Upload a file to the device (multipart: path, uid, gid, mode, then file)', params: idParams, response: { 400: errorSchema, 404: errorSchema, 409: errorSchema } } },
    async (req, reply) => {
      const link = await connectedLink(req.params.id);
      if (!req.isMultipart()) throw badRequest('the upload must be multipart/form-data with the fields path (and uid, gid, mode) and then file');
      const fields: Record<string, string> = {};
      for await (const part of req.parts()) {
        if (part.type === 'field') {
          fields[part.fieldname] = String(part.value);
          continue;
        }
        if (part.fieldname !== 'file') throw badRequest(`unexpected file field "${part.fieldname}": the file goes in "file"`);
        const path = fields.path;
        if (!path) throw badRequest('the "path" field must come before the file');
        const num = (name: string, base: number): number | undefined => {
          const v = fields[name];
          if (v === undefined || v === '') return undefined;
          const n = Number.parseInt(v, base);
          if (!Number.isInteger(n) || n < 0 || String(n.toString(base)) !== v.replace(/^0+(?=.)/, '')) throw badRequest(`field "${name}" must be a ${base === 8 ? 'octal ' : ''}number, got ${JSON.stringify(v)}`);
          return n;
        };
        const target = { path, mode: num('mode', 8), uid: num('uid', 10), gid: num('gid', 10) };
        const ch = new SessionChannel(hub, link, idleMs);
        ch.info = hub.openSession(link, ch, { ...who(req), kind: 'upload' });
        const size = await uploadRemote(ch, target, part.file);
        if (part.file.truncated) throw badRequest('the file is larger than the server accepts');
        await ctx.store.audit(req.userEmail!, 'deviceconnect.upload', 'device', link.deviceId, { session_id: ch.sid, path, size });
        return reply.code(201).send();
      }
      throw badRequest('the upload has no "file" part');
    },
  );
}
