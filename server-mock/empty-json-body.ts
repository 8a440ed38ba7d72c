// An empty body sent as `Content-Type: application/json` is no body, as Mender's Go services read
// it: mender-cli 1.9.0 logs in with exactly that (Basic auth, JSON content type, zero bytes).
// Fastify's own parser refuses it; a route that needs a body still says so through its schema.
// A non-empty body goes through Fastify's parser unchanged (prototype-poisoning checks included).
import type { FastifyInstance } from 'fastify';

export function acceptEmptyJsonBody(app: FastifyInstance): void {
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body === '') done(null, undefined);
    else json(req, body as string, done);
  });
}
