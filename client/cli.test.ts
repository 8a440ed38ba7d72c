// main() in-process for the exit codes that need no board (the host-sim tests run the rest).
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_ERROR, EXIT_NOTHING, EXIT_OK, main } from './cli.js';

/** A config in a scratch folder; with `artifactInfo`, an image's artifact_info file holding it. */
async function conf(t: { teardown: (f: () => Promise<void>) => void }, artifactInfo?: string): Promise<{ f: string; info: string }> {
  const d = await mkdtemp(join(tmpdir(), 'flipside-cli-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const f = join(d, 'flipside.conf');
  const info = join(d, 'artifact_info');
  if (artifactInfo !== undefined) await writeFile(info, artifactInfo);
  await writeFile(f, JSON.stringify({ RootfsPartA: join(d, 'a'), RootfsPartB: join(d, 'b'), DataDir: join(d, 'data'), ...(artifactInfo !== undefined ? { ArtifactInfoFile: info } : {}) }));
  return { f, info };
}

/** Runs `fn` with process.stdout's writes collected into `out` instead of printed. */
async function capturingStdout(out: string[], fn: () => Promise<void>): Promise<void> {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  try {
    await fn();
  } finally {
    process.stdout.write = write;
  }
}

test('commit, rollback and resume with nothing in progress exit 2', async (t) => {
  const { f } = await conf(t);
  t.is(await main(['--config', f, 'commit']), EXIT_NOTHING);
  t.is(await main(['--config', f, 'rollback']), EXIT_NOTHING);
  t.is(await main(['--config', f, 'resume']), EXIT_NOTHING);
});

test('show-artifact on a device that never installed anything; --version; usage errors', async (t) => {
  const { f } = await conf(t);
  t.is(await main(['--config', f, 'show-artifact']), EXIT_OK);
  t.is(await main(['--version']), EXIT_OK);
  t.is(await main(['frobnicate']), EXIT_ERROR);
  t.is(await main(['--config', f, 'install']), EXIT_ERROR, 'missing artifact argument');
  t.is(await main(['--config', join(tmpdir(), 'does-not-exist.conf'), 'commit']), EXIT_ERROR);
});

test("show-artifact falls back to the image's artifact_info until an update is stored", async (t) => {
  const { f, info } = await conf(t, 'artifact_name=release-7\nartifact_group=lab\n');
  const out: string[] = [];
  await capturingStdout(out, async () => {
    t.is(await main(['--config', f, 'show-artifact']), EXIT_OK);
    t.is(await main(['--config', f, 'show-provides']), EXIT_OK);
  });
  const text = out.join('');
  t.regex(text, /^release-7$/m);
  t.regex(text, /artifact_group=lab/);
  await writeFile(info, 'no name here\n');
  t.is(await main(['--config', f, 'show-artifact']), EXIT_ERROR, 'an artifact_info without artifact_name is an error');
});

// Serial: it and the test above both capture process.stdout.
test.serial('resume and commit with --show-artifact end their stdout with the artifact show-artifact names', async (t) => {
  const { f } = await conf(t, 'artifact_name=release-8\n');
  const out: string[] = [];
  await capturingStdout(out, async () => {
    t.is(await main(['--config', f, 'resume', '--show-artifact']), EXIT_NOTHING);
    t.deepEqual(out.splice(0), ['artifact_name=release-8\n']);
    t.is(await main(['--config', f, 'commit', '--show-artifact']), EXIT_NOTHING);
    t.deepEqual(out.splice(0), ['artifact_name=release-8\n']);
    t.is(await main(['--config', f, 'resume']), EXIT_NOTHING);
    t.deepEqual(out.splice(0), [], 'without the option, nothing on stdout');
  });
});

test('bootstrap creates the device key once, keeps it, replaces it with --force; bad key types and absent daemons are errors', async (t) => {
  const { f } = await conf(t);
  const { readFile } = await import('node:fs/promises');
  const { loadDeviceKey } = await import('./identity/device-key.js');
  const data = join(JSON.parse(await readFile(f, 'utf8')).DataDir as string);
  t.is(await main(['--config', f, 'bootstrap', '--key-type', 'ecdsa-p256']), EXIT_OK);
  const first = await loadDeviceKey(data);
  t.is(first?.type, 'ecdsa-p256');
  t.is(await main(['--config', f, 'bootstrap']), EXIT_OK);
  t.is((await loadDeviceKey(data))?.publicKeyPem, first?.publicKeyPem, 'kept without --force');
  t.is(await main(['--config', f, 'bootstrap', '--force', '--key-type', 'ed25519']), EXIT_OK);
  const second = await loadDeviceKey(data);
  t.is(second?.type, 'ed25519');
  t.not(second?.publicKeyPem, first?.publicKeyPem);
  t.is(await main(['--config', f, 'bootstrap', '--key-type', 'dsa']), EXIT_ERROR);
  t.is((await loadDeviceKey(data))?.publicKeyPem, second?.publicKeyPem, 'a refused bootstrap changes nothing');
  // No daemon running: no pid file, a clear error.
  t.is(await main(['--config', f, 'check-update']), EXIT_ERROR);
  t.is(await main(['--config', f, 'send-inventory']), EXIT_ERROR);
  t.is(await main(['--config', f, 'daemon']), EXIT_ERROR, 'no ServerURL: the daemon refuses to start');
});
