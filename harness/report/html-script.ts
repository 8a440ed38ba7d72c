// The report's inline script: renders a scenario's timeline the first time it is opened (failing
// scenarios are open at load), from the JSON embedded in the page, with textContent only — console
// text never becomes markup. Long consoles show their head and tail; the console lines between are
// behind a "show" button, while faults, states and checks in that stretch are always shown.
// Plain ES2017 in a string: it runs in the browser as written, untouched by the TypeScript build.

export const HEAD_LINES = 60;
export const TAIL_LINES = 500;

export function reportScript(): string {
  return `
(function () {
  'use strict';
  var HEAD = ${HEAD_LINES}, TAIL = ${TAIL_LINES};
  var data = JSON.parse(document.getElementById('flipside-data').textContent);
  var SOURCES = data.sources;
  var TAGS = { 1: 'FAULT', 2: 'ROLLBACK', 4: 'FAIL' };
  var HL = { 1: 'hl-fault', 2: 'hl-rollback', 4: 'hl-fail', 8: 'dim' };

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function secs(ms) { return (ms / 1000).toFixed(3) + ' s'; }

  function row(e) {
    var r = el('div', 'ev s-' + SOURCES[e[1]]);
    if (e[4]) r.classList.add(HL[e[4]]);
    r.appendChild(el('span', 't', secs(e[0])));
    r.appendChild(el('span', 'ln'));
    r.appendChild(el('span', 'src', SOURCES[e[1]]));
    var txt = el('span', 'txt');
    if (TAGS[e[4]]) txt.appendChild(el('span', 'tag', TAGS[e[4]]));
    txt.appendChild(document.createTextNode(e[3]));
    if (e[5] !== undefined) {
      var d = el('details', 'dt');
      d.appendChild(el('summary', '', 'data'));
      d.appendChild(el('pre', '', e[5]));
      txt.appendChild(d);
    }
    r.appendChild(txt);
    return r;
  }

  function gapRow(events, idx) {
    var g = el('div', 'gap ev-gap s-console');
    var b = el('button', '', 'show ' + idx.length + ' more console lines (' + secs(events[idx[0]][0]) + ' \u2013 ' + secs(events[idx[idx.length - 1]][0]) + ')');
    b.type = 'button';
    b.addEventListener('click', function () { expandGap(g, events, idx); });
    g.appendChild(b);
    return g;
  }
  function expandGap(g, events, idx) {
    var f = document.createDocumentFragment();
    for (var k = 0; k < idx.length; k++) f.appendChild(row(events[idx[k]]));
    g.parentNode.replaceChild(f, g);
  }

  // The swimlanes: one track per source on the scenario's time axis. Client states are spans
  // (named, from one state to the next), everything else a tick; console lines are thinned to
  // about 300 ticks, highlighted ones always kept.
  function renderAxis(axis, s) {
    var span = Math.max(s.d, 1), tracks = {}, present = {}, i, e, src;
    function pct(t) { return Math.min(100, Math.max(0, (t / span) * 100)); }
    for (i = 0; i < s.e.length; i++) present[SOURCES[s.e[i][1]]] = true;
    var f = document.createDocumentFragment();
    for (i = 0; i < SOURCES.length; i++) {
      if (!present[SOURCES[i]]) continue;
      var lane = el('div', 'lane s-' + SOURCES[i]);
      lane.appendChild(el('span', 'lname', SOURCES[i]));
      tracks[SOURCES[i]] = lane.appendChild(el('span', 'track'));
      f.appendChild(lane);
    }
    var consoleN = 0;
    for (i = 0; i < s.e.length; i++) if (SOURCES[s.e[i][1]] === 'console') consoleN++;
    var every = Math.max(1, Math.ceil(consoleN / 300)), ci = 0, states = [];
    for (i = 0; i < s.e.length; i++) {
      e = s.e[i]; src = SOURCES[e[1]];
      if (src === 'client-state') { states.push(e); continue; }
      if (src === 'console' && !e[4] && (ci++ % every) !== 0) continue;
      var tk = el('span', 'tick s-' + src + (e[4] ? ' ' + HL[e[4]] : ''));
      tk.style.left = pct(e[0]) + '%';
      tk.title = secs(e[0]) + '  ' + src + ': ' + e[3];
      tracks[src].appendChild(tk);
    }
    for (i = 0; i < states.length; i++) {
      e = states[i];
      var end = i + 1 < states.length ? states[i + 1][0] : s.d;
      var seg = el('span', 'seg' + (e[4] ? ' ' + HL[e[4]] : ''), e[2]);
      seg.style.left = pct(e[0]) + '%';
      seg.style.width = Math.max(0.3, pct(end) - pct(e[0])) + '%';
      seg.title = secs(e[0]) + '  ' + e[3];
      tracks['client-state'].appendChild(seg);
    }
    var scale = el('div', 'scale');
    scale.appendChild(el('span'));
    var axisText = el('span');
    axisText.appendChild(el('span', 'a', '0 s'));
    axisText.appendChild(el('span', 'z', secs(s.d)));
    scale.appendChild(axisText);
    f.appendChild(scale);
    axis.appendChild(f);
  }

  function render(sc) {
    if (sc.dataset.rendered) return;
    sc.dataset.rendered = '1';
    var s = data.scenarios[Number(sc.dataset.s)];
    var tl = sc.querySelector('.tl');
    renderAxis(sc.querySelector('.axis'), s);
    var ev = s.e, n = ev.length, f = document.createDocumentFragment(), gap = [];
    if (n === 0) { tl.appendChild(el('div', 'empty', 'No events were recorded.')); return; }
    var h = el('div', 'ev hdr');
    h.appendChild(el('span', 't', 'time'));
    var lanes = el('span', 'ln');
    lanes.title = 'one track per source: ' + SOURCES.join(', ');
    h.appendChild(lanes);
    h.appendChild(el('span', 'src', 'source'));
    h.appendChild(el('span', 'txt', 'event'));
    f.appendChild(h);
    for (var i = 0; i < n; i++) {
      var keep = n <= HEAD + TAIL || i < HEAD || i >= n - TAIL || SOURCES[ev[i][1]] !== 'console';
      if (keep) {
        if (gap.length) { f.appendChild(gapRow(ev, gap)); gap = []; }
        f.appendChild(row(ev[i]));
      } else gap.push(i);
    }
    if (gap.length) f.appendChild(gapRow(ev, gap));
    tl.appendChild(f);
    if (tl.querySelector('.gap')) {
      var all = el('button', 'show-all', 'show all ' + n + ' events');
      all.type = 'button';
      all.addEventListener('click', function () {
        var gaps = tl.querySelectorAll('.gap button');
        for (var k = 0; k < gaps.length; k++) gaps[k].click();
        all.remove();
      });
      sc.querySelector('.info').appendChild(all);
    }
  }

  var scs = document.querySelectorAll('details.sc');
  for (var i = 0; i < scs.length; i++) {
    (function (sc) {
      if (sc.open) render(sc);
      sc.addEventListener('toggle', function () { if (sc.open) render(sc); });
    })(scs[i]);
  }

  var boxes = document.querySelectorAll('.toolbar input[data-source]');
  for (var j = 0; j < boxes.length; j++) {
    boxes[j].addEventListener('change', function (ev) {
      var cb = ev.target;
      document.body.classList.toggle('hide-' + cb.dataset.source, !cb.checked);
    });
  }
  document.getElementById('expand-all').addEventListener('click', function () {
    for (var i = 0; i < scs.length; i++) scs[i].open = true;
  });
  document.getElementById('collapse-all').addEventListener('click', function () {
    for (var i = 0; i < scs.length; i++) scs[i].open = false;
  });
})();
`;
}
