// Console output is untrusted bytes: colour codes, NULs from a board losing power mid-character,
// stray UTF-16 halves. XML 1.0 cannot carry most C0 controls even as character references, so
// everything the reports show goes through cleanConsoleText first, which keeps the text readable
// and makes the dropped bytes visible as \xNN instead of silently losing them.

// CSI (ESC [ … final byte) and OSC (ESC ] … BEL or ESC \) sequences, plus two-byte escapes (ESC =, ESC M…); a lone ESC at the end stays, to be shown as \x1b.
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[0-~]/g;

export function stripAnsi(s: string): string {
  return s.replace(ANSI, '');
}

const hex = (c: number, width: number) => c.toString(16).padStart(width, '0');

/**
 * Text that XML 1.0 and HTML accept: ANSI sequences removed; other C0 controls (except tab, LF,
 * CR), DEL, C1 controls, U+FFFE/U+FFFF and unpaired surrogates written out as \xNN / \uNNNN.
 */
export function cleanConsoleText(s: string): string {
  return stripAnsi(s).replace(
    /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (ch) => {
      const c = ch.charCodeAt(0);
      return c <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`;
    },
  );
}

/** Element content: cleaned, with the three markup characters and CR (which parsers fold into LF) as references. */
export function escapeXmlText(s: string): string {
  return cleanConsoleText(s).replace(/[&<>\r]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#13;'));
}

/** Attribute value (double-quoted): also quotes and whitespace that attribute normalisation would flatten. */
export function escapeXmlAttr(s: string): string {
  return escapeXmlText(s).replace(/["'\n\t]/g, (c) => (c === '"' ? '&quot;' : c === "'" ? '&apos;' : c === '\n' ? '&#10;' : '&#9;'));
}

/** HTML text or double-quoted attribute. */
export function escapeHtml(s: string): string {
  return cleanConsoleText(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON safe to place inside a <script> element: no `</script>`, no `<!--`, no JS line separators. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${hex(c.charCodeAt(0), 4)}`);
}
