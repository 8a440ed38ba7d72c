// Throughput of the fault proxy with no faults armed, against a direct loopback connection
// measured in the same run (absolute numbers depend on the machine; the ratio is the result).
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { FaultProxy } from '../harness/network/fault-proxy.js';

const TOTAL = 256 * 1024 * 1024;
const CHUNK = Buffer.alloc(256 * 1024, 0x5a);

/** A server that sends TOTAL bytes to every client, honouring backpressure. */
const server = createServer((s) => {
  // Closing the proxy resets its upstream sockets; that is expected here.
  s.on('error', () => {});
  let sent = 0;
  const pump = () => {
    while (sent < TOTAL) {
      sent += CHUNK.length;
      if (!s.write(CHUNK)) return void s.once('drain', pump);
    }
    s.end();
  };
  pump();
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const serverPort = (server.address() as AddressInfo).port;

async function measure(port: number): Promise<number> {
  const started = performance.now();
  const sock = connect(port, '127.0.0.1');
  let got = 0;
  sock.on('data', (d: Buffer) => (got += d.length));
  await once(sock, 'end');
  sock.destroy();
  if (got !== TOTAL) throw new Error(`received ${got} of ${TOTAL} bytes`);
  return TOTAL / 1024 / 1024 / ((performance.now() - started) / 1000);
}

const proxy = new FaultProxy({ target: { host: '127.0.0.1', port: serverPort } });
await proxy.listen();
// Warm up both paths once, then alternate so background load affects both alike.
await measure(serverPort);
await measure(proxy.port);
const direct: number[] = [];
const proxied: number[] = [];
for (let i = 0; i < 3; i++) {
  direct.push(await measure(serverPort));
  proxied.push(await measure(proxy.port));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const d = median(direct);
const p = median(proxied);
console.log(`direct   ${d.toFixed(0)} MiB/s`);
console.log(`proxied  ${p.toFixed(0)} MiB/s`);
console.log(`ratio    ${(p / d).toFixed(2)} (proxy / direct, median of 3 × ${TOTAL / 1024 / 1024} MiB)`);
await proxy.close();
server.close();
