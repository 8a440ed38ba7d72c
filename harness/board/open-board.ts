// Board name → bound Board. Boards are data (boards/*.yaml); the binding is chosen by what the
// board file describes: a qemu section → QemuBoard; a lab section (real hardware: serial console,
// power switch, flashing) → LabBoard; a simulated bootloader and storage → HostSimLabBoard (its
// client runs as a host process behind a shell that maps the device's commands).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildDeviceBundle } from '../../client/build-device.js';
import type { InjectedBug } from '../../client/injected-bug.js';
import { LAB_BUGS, type LabBug } from './lab-bugs.js';
import { loadAnyBoardFile } from '../../boards/load.js';
import { isSimulated } from '../../boards/schema.js';
import { BOARDS_DIR } from '../../paths.js';
import type { Board, Capability } from './board.js';
import { QemuBoard, qemuCapabilities } from './qemu-board.js';
import { LabBoard } from './lab-board.js';
import { HostSimLabBoard } from '../host-sim/lab-board.js';
import { processTempDir } from '../run/temp-dir.js';
import type { ClientKind } from '../scenario/client.js';

export { LAB_BUGS, type LabBug };

export interface OpenBoardOptions {
  injectBug?: LabBug;
  /** The client under test (default flipside); mender: Debian's mender-client in the image (QEMU boards). */
  client?: ClientKind;
}

async function bugBundle(bug: InjectedBug): Promise<string> {
  const dir = processTempDir('flipside-bug-bundle-');
  return buildDeviceBundle(join(dir, 'flipside.cjs'), { injectBug: bug });
}

export async function openBoard(name: string, o: OpenBoardOptions = {}): Promise<Board> {
  const bug = o.injectBug;
  if (bug && !(LAB_BUGS as readonly string[]).includes(bug)) throw new Error(`--inject-bug ${bug}: one of ${LAB_BUGS.join(', ')}`);
  const clientBug = bug && bug !== 'no-bootcount' ? bug : undefined;
  const file = await loadAnyBoardFile(name);
  if (o.client === 'mender') {
    if (bug) throw new Error(`--inject-bug builds a Flipside client with a bug; it cannot go with --client mender`);
    if (isSimulated(file) || !file.qemu) throw new Error(`--client mender runs on the QEMU boards (an image built with Debian's mender-client); ${name} is not one`);
    return QemuBoard.open(name, { client: 'mender' });
  }
  if (isSimulated(file)) {
    return new HostSimLabBoard(undefined, { spec: file, ...(clientBug ? { clientBundle: await bugBundle(clientBug) } : {}), ...(bug === 'no-bootcount' ? { bootScriptBug: bug } : {}) });
  }
  if (bug === 'no-bootcount') throw new Error(`--inject-bug no-bootcount exists on simulated boards only (other boards run the real boot script)`);
  if (file.qemu) return QemuBoard.open(name, clientBug ? { clientBundle: await bugBundle(clientBug) } : {});
  if (file.lab) return LabBoard.open(file, clientBug ? { clientBundle: await bugBundle(clientBug) } : {});
  throw new Error(`board ${name}: its board file has neither a qemu nor a lab section, so nothing can drive it`);
}

export interface BoardListing {
  name: string;
  description: string;
  /** null when the engine cannot drive the board yet (why in `note`). */
  capabilities: Capability[] | null;
  note?: string;
}

/** Every board file and what the engine can do with it, without building or booting anything. */
export async function listBoards(): Promise<BoardListing[]> {
  const out: BoardListing[] = [];
  for (const f of readdirSync(BOARDS_DIR).filter((f) => f.endsWith('.yaml')).sort()) {
    const name = f.replace(/\.yaml$/, '');
    try {
      const file = await loadAnyBoardFile(name);
      if (isSimulated(file)) out.push({ name, description: file.description, capabilities: [...new HostSimLabBoard(undefined, { spec: file }).capabilities] });
      else if (file.qemu) out.push({ name, description: file.description ?? '', capabilities: ['power', 'console', 'shell', 'storage', ...qemuCapabilities(file)] });
      else if (file.lab) out.push({ name, description: file.description ?? '', capabilities: [...LabBoard.open(file).capabilities] });
      else out.push({ name, description: file.description ?? '', capabilities: null, note: 'no qemu or lab section: nothing can drive it' });
    } catch (e) {
      out.push({ name, description: '', capabilities: null, note: `board file invalid: ${(e as Error).message.split('\n')[0]}` });
    }
  }
  return out;
}
