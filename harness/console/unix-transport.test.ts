import test from 'ava';
import { UnixSocketTransport } from './unix-transport.js';

test('names the socket when it cannot connect', async (t) => {
  t.throws(() => new UnixSocketTransport(''), { message: /socket path is required/ });
  await t.throwsAsync(new UnixSocketTransport('/nonexistent/console.sock').connect(), {
    message: /cannot connect to console socket \/nonexistent\/console\.sock: .*ENOENT/,
  });
});
