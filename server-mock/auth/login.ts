// Password login: throttled per account and per source, the same scrypt work whether or not
// the e-mail exists, and every failure and lockout written to the audit log.
import type { ServerContext } from '../context.js';
import type { UserRow } from '../store/store.js';
import { tooMany, unauthorized } from '../http-errors.js';

/** Longest e-mail kept in the audit log for an attempt (RFC 5321 allows 254). */
const MAX_LOGGED_EMAIL = 254;

export async function passwordLogin(ctx: ServerContext, email: string, password: string, source: string): Promise<UserRow> {
  const logged = email.slice(0, MAX_LOGGED_EMAIL);
  const admission = await ctx.loginThrottle.begin(email, source);
  if (!admission.ok) {
    const why = admission.reason === 'locked' ? `too many failed logins from this ${admission.scope === 'account' ? 'account' : 'address'}` : 'too many logins at once';
    throw tooMany(`${why}: try again in ${admission.retryAfterSeconds} s`, admission.retryAfterSeconds);
  }
  let user: UserRow | undefined;
  let ok = false;
  try {
    user = (await ctx.store.userByEmail(email));
    ok = await ctx.passwords.check(password, user?.password_hash);
  } finally {
    // Unanswered only when this worker lost its supervisor (it is stopping); the supervisor frees
    // the slot when this worker exits. The failure is still audited.
    const lockouts = await admission.end(ok).catch(() => []);
    if (!ok) await ctx.store.audit(logged, 'user.login_failed', 'user', user?.id ?? '', { source, known_user: user !== undefined });
    for (const l of lockouts) await ctx.store.audit('system', 'user.login_locked', l.scope === 'account' ? 'user' : 'address', l.scope === 'account' ? (user?.id ?? l.key) : l.key, { scope: l.scope, key: l.key.slice(0, MAX_LOGGED_EMAIL), failures: l.failures, seconds: l.seconds, source });
  }
  if (!ok || !user) throw unauthorized('invalid credentials');
  await ctx.store.audit(user.email, 'user.login', 'user', user.id, { source });
  return user;
}
