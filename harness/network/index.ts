export { FaultProxy, type FaultProxyOptions, type ProxyStats, type BytesEvent, type CutEvent, type DropMode } from './fault-proxy.js';
export type { Direction } from './pump.js';
