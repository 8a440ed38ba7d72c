import test from 'ava';
import { fleetReport, NOT_REPORTED, UNKNOWN_TYPE, STALE_LISTED } from './fleet-report.js';
import type { FleetDeviceRow } from '../store/store.js';

const NOW = Date.parse('2026-12-03T12:00:00.000Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();
let n = 0;
function row(type: string | null, release: string | null, seenSecondsAgo: number | null, grp: string | null = null): FleetDeviceRow {
  n++;
  return {
    id: `dev-${String(n).padStart(3, '0')}`,
    id_data: JSON.stringify({ mac: `00:00:00:00:00:${n}` }),
    check_in_time: seenSecondsAgo === null ? null : ago(seenSecondsAgo),
    grp,
    device_type: type === null ? null : JSON.stringify(type),
    artifact_name: release === null ? null : JSON.stringify(release),
  };
}

test('software distribution counts each release by device type, most devices first', (t) => {
  const rows = [
    row('pi4', 'v2', 10), row('pi4', 'v2', 10), row('bbb', 'v2', 10),
    row('pi4', 'v1', 10), row(null, null, 10),
  ];
  const r = fleetReport(rows, NOW, 3600);
  t.is(r.total, 5);
  t.deepEqual(r.device_types, ['pi4', 'bbb', UNKNOWN_TYPE]);
  t.deepEqual(r.software, [
    { artifact_name: 'v2', count: 3, by_device_type: { pi4: 2, bbb: 1 } },
    { artifact_name: NOT_REPORTED, count: 1, by_device_type: { [UNKNOWN_TYPE]: 1 } },
    { artifact_name: 'v1', count: 1, by_device_type: { pi4: 1 } },
  ]);
});

test('check-ins fall into age buckets; stale ones past the threshold are grouped and listed oldest first', (t) => {
  const rows = [
    row('pi4', 'v1', 30, 'lab'), // within 1 h
    row('pi4', 'v1', 2 * 3600, 'lab'), // 1 h to 1 day
    row('bbb', 'v1', 3 * 86_400, 'field'), // 1 to 7 days
    row('bbb', 'v1', 30 * 86_400), // over 7 days
    row('pi4', 'v1', null, 'field'), // never
  ];
  const r = fleetReport(rows, NOW, 86_400);
  t.deepEqual(r.check_ins.map((b) => [b.key, b.count]), [['hour', 1], ['day', 1], ['week', 1], ['older', 1], ['never', 1]]);
  t.deepEqual(r.check_ins[2]!.by_device_type, { bbb: 1 });
  t.is(r.stale.count, 3);
  t.deepEqual(r.stale.by_device_type, { bbb: 2, pi4: 1 });
  t.deepEqual(r.stale.by_group, { field: 2, '': 1 });
  t.deepEqual(r.stale.devices.map((d) => d.id), [rows[4]!.id, rows[3]!.id, rows[2]!.id]);
  t.is(r.stale.devices[0]!.check_in_time, null);
  t.deepEqual(r.stale.devices[1]!.identity, JSON.parse(rows[3]!.id_data));
  // A tighter threshold makes the 2 h one stale too.
  t.is(fleetReport(rows, NOW, 3600).stale.count, 4);
});

test('the stale list is capped; the count is not', (t) => {
  const rows = Array.from({ length: STALE_LISTED + 5 }, () => row('pi4', 'v1', 90 * 86_400));
  const r = fleetReport(rows, NOW, 86_400);
  t.is(r.stale.count, STALE_LISTED + 5);
  t.is(r.stale.devices.length, STALE_LISTED);
});

test('an empty fleet gives empty charts, a bad threshold a clear error', (t) => {
  const r = fleetReport([], NOW, 60);
  t.is(r.total, 0);
  t.deepEqual(r.software, []);
  t.true(r.check_ins.every((b) => b.count === 0));
  t.throws(() => fleetReport([], NOW, 0), { message: /stale_after must be a positive/ });
});
