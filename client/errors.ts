// The one error type of the device client: the CLI maps `code` to exit codes and messages, the
// state machine decides between failure paths on it, tests match on it (never on message text).

export type ClientErrorCode =
  | 'CONFIG'
  | 'STORE'
  | 'NO_SPACE'
  | 'DEVICE_TYPE'
  | 'DEPENDS'
  | 'PAYLOAD_TYPE'
  | 'PAYLOAD_TOO_LARGE'
  | 'CHECKSUM'
  | 'PARTITION'
  | 'BOOT_ENV'
  | 'NOT_EXPECTED_PARTITION'
  | 'UPDATE_IN_PROGRESS'
  | 'NOTHING_IN_PROGRESS'
  | 'STATE_LOOP'
  | 'SOURCE'
  | 'REBOOT'
  | 'SERVER';

export class ClientError extends Error {
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
