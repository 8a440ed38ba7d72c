// What every route plugin needs, built once by buildServer and passed to each plugin.
import type { FlipsideStore } from './store/api.js';
import type { BlobStore } from './store/blobs.js';
import type { ServerSecrets } from './auth/secrets.js';
import type { WebhookDispatcher } from './integrations/webhooks.js';
import type { PasswordHasher } from './auth/password.js';
import type { LoginGate } from './auth/login-throttle.js';
import type { DeviceAdmission } from './device/admission.js';
import type { ConnectHub } from './deviceconnect/hub.js';
import type { DownloadProgress } from './deployments/download-progress.js';

export interface ServerContext {
  store: FlipsideStore;
  blobs: BlobStore;
  secrets: ServerSecrets;
  jwtTtlSeconds: number;
  /** Management (user) tokens from login. */
  userJwtTtlSeconds: number;
  linkTtlSeconds: number;
  maxArtifactBytes: number;
  /** Base URL put in download links; when absent, taken from the request's Host. */
  publicUrl?: string;
  /** Device events to the webhook integrations. */
  webhooks: WebhookDispatcher;
  /** Host names a request's Host header may put in links when publicUrl is unset. */
  linkHosts: Set<string>;
  /** scrypt off the request thread. */
  passwords: PasswordHasher;
  /** The login throttle: this process's, or the supervisor's under --workers N. */
  loginThrottle: LoginGate;
  /** Limits on new pending devices, and their counts. */
  admission: DeviceAdmission;
  /** Devices connected over deviceconnect and their sessions. */
  connect: ConnectHub;
  /** Artifact download progress per device and deployment, seen from the download route. */
  downloads: DownloadProgress;
}
