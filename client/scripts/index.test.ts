import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStateScripts, storeArtifactScripts, scriptDirFor } from './index.js';

test('store then run through the package entry point, dir chosen by state', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'scriptsidx-'));
  try {
    const dirs = { rootfs: join(root, 'etc'), artifact: join(root, 'var') };
    await storeArtifactScripts([{ name: 'ArtifactReboot_Leave_00', mode: 0o755, content: Buffer.from('#!/bin/sh\nexit 1\n') }], dirs.artifact);
    const log: string[] = [];
    const opts = { timeoutMs: 5000, retryLaterTimeoutMs: 1000, retryIntervalMs: 10, log: (l: string) => log.push(l) };
    const failed = await runStateScripts({ ...opts, dirs: [scriptDirFor('ArtifactReboot', dirs)], state: 'ArtifactReboot', action: 'Leave' });
    t.false(failed.ok);
    const idle = await runStateScripts({ ...opts, dirs: [scriptDirFor('Idle', dirs)], state: 'Idle', action: 'Enter' });
    t.deepEqual(idle, { ok: true, ran: [], ignoredFailures: [] });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
