// The device side's answers to Mender's mender-client protocol (check-update, send-inventory),
// against a bare WebSocket server standing in for deviceconnect: the same type back with
// `status` 1 once the update client was asked, 2 and the reason when it could not be.
import test from 'ava';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { DeviceConnect, type DeviceConnectOptions } from './device-connect.js';
import { MENDER_CLIENT_STATUS, PROTO, decodeMessage, encodeMessage, numberProp, type ProtoMsg } from '../../connect-protocol/protocol.js';

async function serverAndDevice(t: import('ava').ExecutionContext, o: Partial<DeviceConnectOptions>) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const socket = new Promise<WebSocket>((r) => wss.once('connection', r));
  const log: string[] = [];
  const device = new DeviceConnect({ server: () => `http://127.0.0.1:${(wss.address() as AddressInfo).port}`, token: () => 'a.b.c', tokenRefused: () => undefined, log: (l) => log.push(l), ...o });
  t.teardown(() => {
    device.stop();
    wss.close();
  });
  device.start();
  const ws = await socket;
  const answers: ProtoMsg[] = [];
  let waiter: (() => void) | null = null;
  ws.on('message', (d: Buffer) => {
    answers.push(decodeMessage(d));
    waiter?.();
  });
  const ask = async (typ: string) => {
    const arrived = new Promise<void>((r) => (waiter = r));
    ws.send(encodeMessage({ hdr: { proto: PROTO.menderClient, typ, props: { user_id: 'u-1' } } }));
    await arrived;
    return answers.at(-1)!;
  };
  return { ask, log };
}

test('check-update and send-inventory ask the update client and are answered with status 1', async (t) => {
  const asked: string[] = [];
  const { ask } = await serverAndDevice(t, { menderClient: { checkUpdate: () => asked.push('update'), sendInventory: () => asked.push('inventory') } });
  const a = await ask('check-update');
  t.is(a.hdr.proto, PROTO.menderClient);
  t.is(a.hdr.typ, 'check-update');
  t.is(numberProp(a, 'status'), MENDER_CLIENT_STATUS.normal);
  t.is(a.body, undefined);
  t.is(numberProp(await ask('send-inventory'), 'status'), MENDER_CLIENT_STATUS.normal);
  t.deepEqual(asked, ['update', 'inventory']);
});

test('without an update client, or for an unknown type, the answer is status 2 with the reason', async (t) => {
  const { ask, log } = await serverAndDevice(t, {});
  const a = await ask('check-update');
  t.is(numberProp(a, 'status'), MENDER_CLIENT_STATUS.error);
  t.is(Buffer.from(a.body!).toString(), 'check-update: no update client on this device');
  const b = await ask('reboot-now');
  t.is(b.hdr.typ, 'reboot-now');
  t.is(numberProp(b, 'status'), MENDER_CLIENT_STATUS.error);
  t.regex(Buffer.from(b.body!).toString(), /unknown mender client message "reboot-now"/);
  t.true(log.some((l) => l.includes('no update client')));
});
