// Starts a campaign worker from the TypeScript source (tsx resolved beside the repo, whatever the cwd).
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
