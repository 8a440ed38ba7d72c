// A fleet worker process: runs one DeviceGroup for the orchestrator, which talks to it over the
// IPC channel: {start: spec} → 'started'; 'stop' → {report}. It exits when the orchestrator goes.
import { DeviceGroup, type GroupSpec } from './group.js';

let group: DeviceGroup | null = null;

process.on('message', (m: { start?: GroupSpec; stop?: true }) => {
  if (m.start) {
    group = new DeviceGroup(m.start);
    group.start();
    process.send!({ started: true });
  } else if (m.stop && group) {
    void group.stop().then((report) => process.send!({ report }, () => process.disconnect()));
  }
});
process.on('disconnect', () => process.exit(0));
