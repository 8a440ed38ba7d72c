// Board name → bound Board. Boards are data (boards/*.yaml); the binding is chosen by what the
// board file describes. host-sim is not bound here yet: its client runs as a host process, so it
// needs a Shell that maps `flipside …` commands onto HostSimBoard.runClient.
import { readdirSync } from 'node:fs';
import { BOARDS_DIR, loadBoardFile } from '../../qemu/board-file.js';
import type { Board, Capability } from './board.js';
import { QemuBoard } from './qemu-board.js';

export async function openBoard(name: string): Promise<Board> {
  if (name === 'host-sim') throw new Error('host-sim is not bound to the scenario engine yet (see harness/board/open-board.ts); use a qemu-* board');
  const file = await loadBoardFile(name);
  if (file.qemu) return QemuBoard.open(name);
  throw new Error(`board ${name}: only QEMU boards are bound to the scenario engine so far (a lab board needs its console/power drivers wired here)`);
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
    if (name === 'host-sim') {
      out.push({ name, description: 'simulated A/B board on the host', capabilities: null, note: 'not bound to the engine yet' });
      continue;
    }
    try {
      const file = await loadBoardFile(name);
      if (file.qemu) {
        const caps: Capability[] = ['power', 'console', 'shell', 'storage', 'bytes-written'];
        if (file.qemu.nicDevice) caps.splice(3, 0, 'network');
        out.push({ name, description: file.description ?? '', capabilities: caps });
      } else out.push({ name, description: file.description ?? '', capabilities: null, note: 'lab board: drivers not bound to the engine yet' });
    } catch (e) {
      out.push({ name, description: '', capabilities: null, note: `board file invalid: ${(e as Error).message.split('\n')[0]}` });
    }
  }
  return out;
}
