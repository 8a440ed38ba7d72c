// `name=value` lines as fw_printenv and `grub-editenv list` print them. Lenient on purpose: the
// guest's console may put a kernel message or a daemon log line among them, which is skipped
// instead of failing the whole read.

export function parseEnvLines(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) vars[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return vars;
}
