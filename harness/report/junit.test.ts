import test from 'ava';
import type { RunRecord } from '../run/result.js';
import { renderJunit } from './junit.js';
import { sampleRun } from './sample-run.fake.js';

// A deliberately strict little XML 1.0 reader: it rejects any character XML forbids, any raw `<`
// or bare `&` in text or attributes, unknown entities and mismatched tags. Enough to prove the
// writer's output is well-formed and to read values back.
interface El {
  name: string;
  attrs: Record<string, string>;
  children: El[];
  text: string;
}

function parseXml(src: string): El {
  const bad = /[^\t\n\r\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u.exec(src);
  if (bad) throw new Error(`invalid XML char U+${bad[0].codePointAt(0)!.toString(16)} at ${bad.index}`);
  let i = 0;
  const decode = (s: string): string => {
    if (s.includes('<')) throw new Error('raw < in character data');
    return s.replace(/&([^;]*);|&/g, (m, ent: string | undefined) => {
      if (ent === undefined) throw new Error('bare &');
      const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
      if (ent in named) return named[ent]!;
      const num = /^#x([0-9a-f]+)$/i.exec(ent) ?? /^#([0-9]+)$/.exec(ent);
      if (!num) throw new Error(`unknown entity &${ent};`);
      const cp = parseInt(num[1]!, ent[1] === 'x' ? 16 : 10);
      if (!(cp === 9 || cp === 10 || cp === 13 || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || cp >= 0x10000)) throw new Error(`char ref to invalid char ${cp}`);
      return String.fromCodePoint(cp);
    });
  };
  const skipWs = () => {
    while (/\s/.test(src[i] ?? '')) i++;
  };
  if (src.startsWith('<?xml')) i = src.indexOf('?>') + 2;
  const element = (): El => {
    const m = /^<([A-Za-z_][\w.-]*)/.exec(src.slice(i, i + 200));
    if (!m) throw new Error(`expected element at ${i}: ${src.slice(i, i + 20)}`);
    i += m[0].length;
    const el: El = { name: m[1]!, attrs: {}, children: [], text: '' };
    for (;;) {
      skipWs();
      if (src.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (src[i] === '>') {
        i++;
        break;
      }
      const a = /^([A-Za-z_][\w.-]*)="([^"]*)"/.exec(src.slice(i, src.indexOf('"', src.indexOf('"', i) + 1) + 1));
      if (!a) throw new Error(`bad attribute at ${i}`);
      if (a[1]! in el.attrs) throw new Error(`duplicate attribute ${a[1]}`);
      el.attrs[a[1]!] = decode(a[2]!);
      i += a[0].length;
    }
    for (;;) {
      const lt = src.indexOf('<', i);
      if (lt < 0) throw new Error(`unclosed <${el.name}>`);
      el.text += decode(src.slice(i, lt));
      i = lt;
      if (src.startsWith('</', i)) {
        const close = `</${el.name}>`;
        if (!src.startsWith(close, i)) throw new Error(`mismatched close at ${i}, expected ${close}`);
        i += close.length;
        return el;
      }
      el.children.push(element());
    }
  };
  skipWs();
  const root = element();
  skipWs();
  if (i !== src.length) throw new Error('content after the root element');
  return root;
}

const kids = (el: El, name: string) => el.children.filter((c) => c.name === name);

test('the strict reader itself rejects what XML rejects', (t) => {
  t.throws(() => parseXml('<a>\x1b</a>'), { message: /invalid XML char/ });
  t.throws(() => parseXml('<a>x & y</a>'), { message: /bare &/ });
  t.throws(() => parseXml('<a>&#0;</a>'), { message: /invalid char/ });
  t.throws(() => parseXml('<a><b></a>'), { message: /mismatched/ });
  t.is(parseXml('<a x="&lt;&#10;">t&amp;</a>').attrs.x, '<\n');
});

test('sample run: suites per board, cases per scenario, counts, seconds, seed', (t) => {
  const root = parseXml(renderJunit(sampleRun()));
  t.is(root.name, 'testsuites');
  t.like(root.attrs, { tests: '4', failures: '1', errors: '0', skipped: '1', timestamp: '2026-11-23T20:00:00' });
  const [suite, ...others] = kids(root, 'testsuite');
  t.is(others.length, 0);
  t.like(suite!.attrs, { name: 'qemu-aarch64', tests: '4', failures: '1', skipped: '1' });
  const props = Object.fromEntries(kids(kids(suite!, 'properties')[0]!, 'property').map((p) => [p.attrs.name, p.attrs.value]));
  t.deepEqual(props, { run: '20261123-200000-beef', board: 'qemu-aarch64', seed: '1234' });
  const cases = kids(suite!, 'testcase');
  t.deepEqual(cases.map((c) => [c.attrs.name, c.attrs.classname, c.attrs.time]), [
    ['happy-update', 'qemu-aarch64', '18.600'],
    ['power-cut-in-reboot', 'qemu-aarch64', '29.400'],
    ['server-down-during-download', 'qemu-aarch64', '31.200'],
    ['network-shaping', 'qemu-aarch64', '0.000'],
  ]);
  t.is(kids(cases[0]!, 'failure').length, 0);
  t.is(kids(cases[3]!, 'skipped')[0]!.attrs.message, 'board qemu-aarch64 has no network.shape() capability');
  const replay = kids(kids(cases[2]!, 'properties')[0]!, 'property').find((p) => p.attrs.name === 'replay');
  t.is(replay!.attrs.value, 'flipside-lab run server-down-during-download --board qemu-aarch64 --seed 1234');
});

test('a failure carries message, stage, faults, cause and the last console lines, with hostile bytes made safe', (t) => {
  const xml = renderJunit(sampleRun());
  const failed = kids(kids(parseXml(xml), 'testsuite')[0]!, 'testcase')[2]!;
  const f = kids(failed, 'failure')[0]!;
  t.is(f.attrs.message, 'server view <success> does not match the device (rootfs A, no commit)');
  t.is(f.attrs.type, 'check: server matches device');
  t.regex(f.text, /^server view <success>/m);
  t.regex(f.text, /server-down for 30000 ms at client state Download/);
  t.regex(f.text, /^client states: Download$/m);
  t.regex(f.text, /AssertionError: expected "A" to be "B"/);
  t.regex(f.text, /last 3 console lines:/);
  // The hostile line: markup arrives as text, OSC title stripped, lone surrogate visible.
  t.true(f.text.includes('</script><script>alert("x")</script><!-- & ]]> \\ud800'));
  t.false(f.text.includes('hostile title'));
  const out = kids(failed, 'system-out')[0]!.text;
  t.regex(out, /\[ {4}0\.900\] FLIPSIDE-STATE/);
});

test('power-cut bytes and raw logs: NULs visible in system-out, logs as attachments', (t) => {
  const run = sampleRun();
  run.scenarios[1]!.artifacts.push('logs/power-cut-in-reboot.console.log');
  const cut = kids(kids(parseXml(renderJunit(run, { artifactPath: (p) => `reports/x/${p}` })), 'testsuite')[0]!, 'testcase')[1]!;
  const out = kids(cut, 'system-out')[0]!.text;
  t.true(out.includes('\\x00\\x00ÿþ'), 'NULs made visible, Latin-1 letters kept');
  t.true(out.includes('[[ATTACHMENT|reports/x/logs/power-cut-in-reboot.console.log]]'));
});

test('system-out keeps the tail of a long console within the cap', (t) => {
  const run = sampleRun({ noiseLines: 5000 });
  const cut = kids(kids(parseXml(renderJunit(run, { maxSystemOutChars: 2000 })), 'testsuite')[0]!, 'testcase')[1]!;
  const out = kids(cut, 'system-out')[0]!.text;
  t.true(out.length < 2300);
  t.regex(out, /earlier console lines left out/);
  t.regex(out, /ArtifactFailure/);
});

test('one suite per board and unique case names for repeated scenarios', (t) => {
  const base = sampleRun().scenarios[0]!;
  const run: RunRecord = {
    id: 'r',
    startedAt: '2026-01-01T00:00:00.000Z',
    boards: ['host-sim', 'qemu-x86_64'],
    seed: 1,
    scenarios: [
      { ...base, board: 'host-sim' },
      { ...base, board: 'host-sim' },
      { ...base, board: 'qemu-x86_64', status: 'error', failure: { message: 'QEMU exited', stage: 'shell' } },
    ],
  };
  const suites = kids(parseXml(renderJunit(run)), 'testsuite');
  t.deepEqual(suites.map((s) => [s.attrs.name, s.attrs.tests, s.attrs.errors]), [
    ['host-sim', '2', '0'],
    ['qemu-x86_64', '1', '1'],
  ]);
  t.deepEqual(kids(suites[0]!, 'testcase').map((c) => c.attrs.name), ['happy-update', 'happy-update #2']);
  t.like(kids(kids(suites[1]!, 'testcase')[0]!, 'error')[0]!.attrs, { message: 'QEMU exited', type: 'shell' });
});
