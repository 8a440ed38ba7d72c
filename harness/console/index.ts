// The console drivers: one StreamConsole over any byte stream, and the transports it sits on.
export { StreamConsole, type StreamConsoleOptions } from './stream-console.js';
export { openConsole, createConsole, consoleSpecSchema, transportFor, type ConsoleSpec } from './open-console.js';
export { ExpectTimeoutError, ConsoleClosedError } from './expect-buffer.js';
export type { ConsoleTransport, ConsoleLink } from './transport.js';
export { SerialTransport } from './serial-transport.js';
export { TcpTransport } from './tcp-transport.js';
export { UnixSocketTransport } from './unix-transport.js';
export { ProcessTransport } from './process-transport.js';
export { DeviceConnectTransport } from './deviceconnect-transport.js';
export { stripTerminalEscapes } from './escape-scanner.js';
