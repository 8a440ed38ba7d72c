// The record of one scenario run: every console line, client state, server event, fault, env
// snapshot and check on one clock. Append-only so a report can never show history rewritten, and
// observable so the journal can write each event to disk as it happens.
import type { ConsoleLine } from '../types.js';
import { parseStateLine } from './state-line.js';

export const EVENT_SOURCES = ['console', 'client-state', 'server', 'fault', 'env', 'check', 'harness'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

export interface TimelineEvent {
  /** Milliseconds since the scenario started. */
  t: number;
  source: EventSource;
  /** A short machine-usable tag: the state name, the fault kind, 'line', 'pass'/'fail' for checks… */
  kind: string;
  text: string;
  data?: unknown;
}

export interface NewEvent {
  source: EventSource;
  kind: string;
  text: string;
  data?: unknown;
  /** Absolute time on the timeline's clock; now when absent. */
  at?: number;
}

export interface TimelineOptions {
  /** Absolute time of the scenario start on `clock`. */
  origin?: number;
  clock?: () => number;
}

export class Timeline {
  readonly origin: number;
  private readonly clock: () => number;
  private readonly list: TimelineEvent[] = [];
  private readonly listeners = new Set<(e: TimelineEvent) => void>();

  constructor(opts: TimelineOptions = {}) {
    this.clock = opts.clock ?? Date.now;
    this.origin = opts.origin ?? this.clock();
  }

  append(e: NewEvent): TimelineEvent {
    const event: TimelineEvent = { t: (e.at ?? this.clock()) - this.origin, source: e.source, kind: e.kind, text: e.text };
    if (e.data !== undefined) event.data = e.data;
    Object.freeze(event);
    this.list.push(event);
    for (const l of this.listeners) l(event);
    return event;
  }

  /** Records a console line and, when it is a FLIPSIDE-STATE line, the client state it reports. */
  appendConsoleLine(line: ConsoleLine): void {
    this.append({ source: 'console', kind: 'line', text: line.text, at: line.t });
    const state = parseStateLine(line.text);
    if (state) {
      const dep = state.deployment ? ` (deployment ${state.deployment})` : '';
      this.append({ source: 'client-state', kind: state.state, text: `${state.state}${dep}`, data: state, at: line.t });
    }
  }

  /** Events in the order they were appended (not re-sorted: a late timestamp stays where it arrived). */
  events(): readonly TimelineEvent[] {
    return this.list;
  }

  onEvent(listener: (e: TimelineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Milliseconds since the origin, on the timeline's clock. */
  elapsed(): number {
    return this.clock() - this.origin;
  }
}
