// `flipside-lab image build --board NAME [--version V] [--variant V] ...`: the command-line face
// of buildImage, with a progress bar on a terminal and plain lines otherwise.
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { buildImage } from './build.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('image').exitOverride();
  let status = 0;
  program
    .command('build')
    .description('build the reference disk image (and rootfs + artifact) for a board: QEMU (qemu-*, raspberrypi3-qemu) or real (raspberrypi3, beaglebone-black: an SD card image)')
    .option('--board <name>', 'board file name or path', 'qemu-aarch64')
    .option('--version <v>', 'artifact_name written into the image', '1.0.0')
    .addOption(new Option('--variant <v>', 'good, or broken for rollback tests').choices(['good', 'broken-kernel', 'broken-init']).default('good'))
    .option('--client <bundle>', 'device client bundle (dist/device/flipside.cjs)')
    .option('--mender-client', "Debian's mender-client (3.4.0) as the image's client instead of a bundle")
    .option('--server-ca <pem>', 'server CA certificate to trust')
    .option('--server-url <url>', 'server URL as the guest sees it')
    .option('--out <dir>', 'copy the results here')
    .option('--no-artifact', 'do not write <version>.mender')
    .action(async (o) => {
      const started = Date.now();
      const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format: ' {bar} {step}', hideCursor: true }, cliProgress.Presets.shades_classic) : null;
      bar?.start(1, 0, { step: '' });
      const r = await buildImage({
        board: o.board,
        version: o.version,
        variant: o.variant,
        clientBundle: o.client,
        ...(o.menderClient ? { client: 'mender' as const } : {}),
        serverCa: o.serverCa,
        serverUrl: o.serverUrl,
        outDir: o.out,
        artifact: o.artifact,
        onProgress: (step, done, total) => {
          if (bar) {
            bar.setTotal(total);
            bar.update(done, { step });
          } else if (done < total) console.error(`[${done + 1}/${total}] ${step}`);
        },
      }).finally(() => bar?.stop());
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`disk     ${r.disk}`);
      console.log(`rootfs   ${r.rootfs}`);
      if (r.artifactInputs.artifact) console.log(`artifact ${r.artifactInputs.artifact}`);
      if (r.hostFwEnvConfig) console.log(`fw_env   ${r.hostFwEnvConfig}`);
      console.log(`${r.cached ? 'cached' : 'built'} in ${secs}s`);
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message?: string };
    if (err.code?.startsWith('commander.')) return err.exitCode ?? 1;
    console.error(`image: ${err.message ?? String(e)}`);
    status = 1;
  }
  return status;
}

// No top-level await: this module is in the CommonJS CLI bundle (bin/build.js).
if (import.meta.url === `file://${process.argv[1]}`) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
