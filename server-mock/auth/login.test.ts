import test from 'ava';
import { startTestServer, ADMIN, type TestServer } from '../testing/fixtures.js';
import { createUser } from '../management/useradm.js';

const LOGIN = '/api/management/v1/useradm/auth/login';
const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

let clock = Date.now();
let s: TestServer;
test.before(async () => {
  s = await startTestServer({ loginThrottle: { now: () => clock } });
});
test.after.always(async () => s?.close());

const tryLogin = (email: string, password: string, remoteAddress = '127.0.0.1') =>
  s.app.inject({ method: 'POST', url: LOGIN, headers: basic(email, password), remoteAddress });

test.serial('password checks leave the request thread free: a request sent after ten logins answers before they do', async (t) => {
  const order: string[] = [];
  const logins = Array.from({ length: 10 }, (_, i) => tryLogin(`slow${i}@example.com`, 'wrong-password', '10.0.0.1').then((r) => order.push(`login ${r.statusCode}`)));
  const other = s.app.inject({ method: 'GET', url: '/api/management/v1/useradm/users/me', headers: s.auth }).then((r) => order.push(`me ${r.statusCode}`));
  await Promise.all([...logins, other]);
  t.is(order.length, 11);
  t.true(order.indexOf('me 200') < 10, order.join(', '));
});

test.serial('an unknown e-mail costs the same scrypt run as a known one', async (t) => {
  const ctx = s.app.flipside;
  let before = ctx.passwords.runs;
  t.is((await tryLogin(ADMIN.email, 'wrong-password', '10.0.0.2')).statusCode, 401);
  const known = ctx.passwords.runs - before;
  before = ctx.passwords.runs;
  t.is((await tryLogin('nobody@example.com', 'wrong-password', '10.0.0.2')).statusCode, 401);
  t.is(ctx.passwords.runs - before, known);
  t.is(known, 1);
});

test.serial('five wrong passwords lock the account: 429 with Retry-After even for the right one, in the audit log; it opens again later', async (t) => {
  await createUser(s.app.flipside, 'victim@example.com', 'victim-password');
  for (let i = 0; i < 5; i++) t.is((await tryLogin('victim@example.com', `guess-${i}`, `10.1.0.${i}`)).statusCode, 401);
  const locked = await tryLogin('victim@example.com', 'victim-password', '10.1.1.1');
  t.is(locked.statusCode, 429);
  t.regex(locked.json<{ error: string }>().error, /too many failed logins/);
  t.is(Number(locked.headers['retry-after']), 300);
  const log = (await s.app.inject({ method: 'GET', url: '/api/management/v1/auditlogs/logs?per_page=50', headers: s.auth })).json<Array<{ action: string; actor: { email: string }; change: string }>>();
  t.is(log.filter((e) => e.action === 'user.login_failed' && e.actor.email === 'victim@example.com').length, 5);
  const lock = log.find((e) => e.action === 'user.login_locked');
  t.truthy(lock);
  t.like(JSON.parse(lock!.change), { scope: 'account', key: 'victim@example.com', failures: 5, seconds: 300 });
  clock += 301_000;
  t.is((await tryLogin('victim@example.com', 'victim-password', '10.1.1.1')).statusCode, 200);
});

test.serial('twenty failures from one address lock that address for every account; other addresses still log in', async (t) => {
  for (let i = 0; i < 20; i++) t.is((await tryLogin(`spray${i}@example.com`, 'wrong-password', '10.2.0.1')).statusCode, 401);
  const r = await tryLogin(ADMIN.email, ADMIN.password, '10.2.0.1');
  t.is(r.statusCode, 429);
  t.true(Number(r.headers['retry-after']) > 0);
  t.is((await tryLogin(ADMIN.email, ADMIN.password, '10.2.0.2')).statusCode, 200);
  clock += 3600_000;
});

test.serial('a hundred parallel wrong logins run at most the per-source limit of password checks; the rest get 429 at once', async (t) => {
  const before = s.app.flipside.passwords.runs;
  const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => tryLogin(`flood${i}@example.com`, 'wrong-password', '10.3.0.1')));
  const by = (c: number) => rs.filter((r) => r.statusCode === c).length;
  t.is(by(401) + by(429), 100);
  t.is(by(401), 20);
  t.true(rs.filter((r) => r.statusCode === 429).every((r) => Number(r.headers['retry-after']) >= 1));
  t.is(s.app.flipside.passwords.runs - before, 20);
});
