// The requests a real Mender 3.5.3 client sent (shared/reference/mender-client-3.5.3-traffic),
// one JSON object per line: the client's and the server's replay tests read them alike.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REFERENCE_DIR } from './shared-dir.js';

export const TRAFFIC_DIR = join(REFERENCE_DIR, 'mender-client-3.5.3-traffic');

export interface RecordedExchange {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  response: number;
}

export function loadTraffic(file: string): RecordedExchange[] {
  return readFileSync(join(TRAFFIC_DIR, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as RecordedExchange);
}
