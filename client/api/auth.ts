// Device authentication: POST /api/devices/v1/authentication/auth_requests with the identity,
// the public key and the tenant token, signed over the raw body bytes (X-MEN-Signature). The
// body is built byte for byte as Mender 3.5.3 sends it (struct field order id_data, tenant_token,
// pubkey; compact; trailing newline from Go's json.Encoder) — see the recorded traffic.
import { signRequest, type DeviceKey } from '../identity/device-key.js';
import { ApiError, NotAuthorized, ProtocolError } from './errors.js';
import { goStruct } from './go-json.js';
import { httpRequest, type HttpRequest } from './http.js';
import { joinUrl } from './url.js';

export const AUTH_PATH = '/api/devices/v1/authentication/auth_requests';

export interface AuthRequestInput {
  /** The identity JSON string (identityJson()). */
  idData: string;
  publicKeyPem: string;
  tenantToken?: string;
}

export function authRequestBody(i: AuthRequestInput): Buffer {
  return Buffer.from(
    `${goStruct([
      ['id_data', i.idData],
      ['tenant_token', i.tenantToken ?? ''],
      ['pubkey', i.publicKeyPem],
    ])}\n`,
  );
}

/** The request as sent: body bytes and headers (signature included). */
export function signedAuthRequest(key: DeviceKey, i: Omit<AuthRequestInput, 'publicKeyPem'>): { body: Buffer; headers: Record<string, string> } {
  const body = authRequestBody({ ...i, publicKeyPem: key.publicKeyPem });
  return {
    body,
    headers: {
      // Mender sends an empty bearer on this call; kept so proxies see the same request shape.
      Authorization: 'Bearer',
      'Content-Type': 'application/json',
      'X-MEN-Signature': signRequest(key, body),
    },
  };
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** One auth request to one server: the JWT, NotAuthorized (pending/rejected), or ApiError. */
export async function requestToken(
  serverUrl: string,
  key: DeviceKey,
  i: Omit<AuthRequestInput, 'publicKeyPem'>,
  o: Pick<HttpRequest, 'ca' | 'secureContext' | 'timeoutMs' | 'agent'> = {},
): Promise<string> {
  const url = joinUrl(serverUrl, AUTH_PATH);
  const { body, headers } = signedAuthRequest(key, i);
  const res = await httpRequest({ method: 'POST', url, headers, body, ...o });
  if (res.status === 401) throw new NotAuthorized({ url, body: res.body });
  if (res.status !== 200) throw new ApiError('authentication failed', { status: res.status, url, body: res.body });
  const token = res.body.toString('utf8').trim();
  if (!JWT_SHAPE.test(token)) throw new ProtocolError('authentication answered 200 without a JWT', { status: 200, url, body: res.body });
  return token;
}
