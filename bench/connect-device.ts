// The device side of bench/connect.bench.ts in its own process, so its memory is measured apart
// from the server's: a Flipside device's deviceconnect part (client/connect) connected to
// FLIPSIDE_BENCH_URL with the device token FLIPSIDE_BENCH_TOKEN. Prints "connected" once the link
// is up; ends when stdin closes.
import { DeviceConnect } from '../client/connect/device-connect.js';

const url = process.env.FLIPSIDE_BENCH_URL;
const token = process.env.FLIPSIDE_BENCH_TOKEN;
if (!url || !token) {
  console.error('connect-device: FLIPSIDE_BENCH_URL and FLIPSIDE_BENCH_TOKEN must be set');
  process.exit(2);
}
const client = new DeviceConnect({ server: () => url, token: () => token, tokenRefused: () => console.error('connect-device: the token was refused'), log: (l) => console.error(`device: ${l}`) });
client.start();
await client.connected();
process.stdout.write('connected\n');
process.stdin.resume();
process.stdin.on('end', () => {
  client.stop();
  process.exit(0);
});
