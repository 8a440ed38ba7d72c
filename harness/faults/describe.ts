// One wording for triggers and faults, shared by the scheduler's timeline entries and the reports.
import type { Fault, Trigger } from '../types.js';

const ordinal = (n: number | undefined): string => (n && n > 1 ? ` (entry #${n})` : '');

export function describeTrigger(t: Trigger): string {
  switch (t.on) {
    case 'state':
      return `client state ${t.state}${ordinal(t.nth)}`;
    case 'server-status':
      return `server status ${t.status}${ordinal(t.nth)}`;
    case 'bytes-written':
      return `${t.bytes} bytes written`;
    case 'bytes-sent':
      return `${t.bytes} bytes sent`;
    case 'time':
      return `${t.ms} ms`;
    case 'boot-stage':
      return `boot stage ${t.stage}${ordinal(t.nth)}`;
  }
}

export function describeFault(f: Fault): string {
  const lasting = f.durationMs !== undefined ? ` for ${f.durationMs} ms` : '';
  const shape = f.shape ? ` ${JSON.stringify(f.shape)}` : '';
  return `${f.kind}${shape}${lasting} at ${describeTrigger(f.at)}`;
}
