// A plain HTTP server for a few host files, so a guest can `flipside install http://...` an
// artifact through QEMU's guestfwd without the whole device API server. Files are streamed with
// their length (the client shows progress and checks the end), never read into memory.
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FileServer {
  port: number;
  close(): Promise<void>;
}

/** Serves `files` (URL path without the leading slash → host path) on 127.0.0.1, a free port. */
export async function serveFiles(files: Record<string, string>): Promise<FileServer> {
  const server: Server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').split('?')[0]!.slice(1));
    const path = Object.hasOwn(files, name) ? files[name] : undefined;
    if (req.method !== 'GET' || !path) {
      res.writeHead(req.method === 'GET' ? 404 : 405).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(statSync(path).size) });
    createReadStream(path)
      .on('error', () => res.destroy())
      .pipe(res);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
