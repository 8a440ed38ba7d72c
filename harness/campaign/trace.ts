// A recorded update run as a campaign sees it: the client's durable-storage operations in issue
// order (client/test-hooks.ts traceOp, FLIPSIDE_TEST_TRACE) with the bytes of every write, plus the
// harness's own marks (power-on, the command started). Paths are made relative to the board's
// folder, so a crash state recorded on one scratch board is rebuilt on another.
import { readFileSync } from 'node:fs';
import type { TraceOp } from '../../client/test-hooks.js';

export type { TraceOp };

export interface Trace {
  ops: TraceOp[];
  data: Buffer;
}

function rel(root: string, p: string): string {
  if (!p.startsWith(`${root}/`)) throw new Error(`trace: ${p} lies outside the board folder ${root}`);
  return p.slice(root.length + 1);
}

/** Reads `<file>` and `<file>.data`; every path in the result is relative to `root`. */
export function readTrace(file: string, root: string): Trace {
  let text = '';
  let data = Buffer.alloc(0);
  try {
    text = readFileSync(file, 'utf8');
    data = readFileSync(`${file}.data`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const ops = text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const o = JSON.parse(l) as TraceOp;
      if ('path' in o) return { ...o, path: rel(root, o.path) } as TraceOp;
      if (o.op === 'rename') return { ...o, from: rel(root, o.from), to: rel(root, o.to) };
      return o;
    });
  return { ops, data };
}

export function bytesOf(t: Trace, o: Extract<TraceOp, { data: number }>): Buffer {
  return t.data.subarray(o.data, o.data + o.length);
}

/** The last state point (FLIPSIDE state, `:done` after its effect, or a harness step) before op `k`. */
export function pointBefore(t: Trace, k: number): string {
  for (let i = k - 1; i >= 0; i--) {
    const o = t.ops[i]!;
    if (o.op === 'mark') return o.point;
  }
  return 'start';
}
