import test from 'ava';
import { cleanConsoleText, escapeHtml, escapeXmlAttr, escapeXmlText, jsonForScript, stripAnsi } from './text.js';

test('ANSI colour, cursor and OSC title sequences are removed', (t) => {
  t.is(stripAnsi('\x1b[0;32mOK\x1b[0m \x1b[2K\x1b]0;title\x07done\x1b=x'), 'OK donex');
});

test('control bytes, lone surrogates and non-characters become visible escapes', (t) => {
  t.is(cleanConsoleText('a\x00b\x07c\x7fe\x85f\x1b'), 'a\\x00b\\x07c\\x7fe\\x85f\\x1b');
  t.is(cleanConsoleText('x\ud800y\udc00z\uffff'), 'x\\ud800y\\udc00z\\uffff');
  t.is(cleanConsoleText('tab\tnl\ncr\r 😀 é'), 'tab\tnl\ncr\r 😀 é');
});

test('XML text and attributes escape markup and keep whitespace', (t) => {
  t.is(escapeXmlText('<a> & "q" \r'), '&lt;a&gt; &amp; "q" &#13;');
  t.is(escapeXmlAttr(`"it's"\n\t<&>`), '&quot;it&apos;s&quot;&#10;&#9;&lt;&amp;&gt;');
});

test('HTML escaping covers quotes for attributes', (t) => {
  t.is(escapeHtml(`<img src=x onerror="alert('x')">`), '&#60;img src=x onerror=&#34;alert(&#39;x&#39;)&#34;&#62;');
});

test('JSON for a script element cannot close the element and still parses to the same value', (t) => {
  const v = { text: '</script><script>alert(1)</script><!-- \u2028 &' };
  const s = jsonForScript(v);
  t.false(s.includes('<'));
  t.false(s.includes('\u2028'));
  t.deepEqual(JSON.parse(s), v);
});
