// The `key=value` line format of Mender's identity and inventory scripts: split at the first
// `=`, blank lines ignored, a key seen again adds a value (so the attribute becomes a list).
// A line without `=` or with an empty key makes the whole output invalid, as Mender's parser does.

export type Attributes = Map<string, string[]>;

export class KeyValueError extends Error {
  readonly line: number;
  constructor(source: string, line: number, message: string) {
    super(`${source}, line ${line}: ${message}`);
    this.name = 'KeyValueError';
    this.line = line;
  }
}

export function parseKeyValueLines(text: string, source: string): Attributes {
  const out: Attributes = new Map();
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    const eq = line.indexOf('=');
    if (eq < 0) throw new KeyValueError(source, i + 1, `expected key=value, got ${JSON.stringify(line.slice(0, 80))}`);
    const key = line.slice(0, eq).trim();
    if (!key) throw new KeyValueError(source, i + 1, 'empty key');
    const value = line.slice(eq + 1);
    const list = out.get(key);
    if (list) list.push(value);
    else out.set(key, [value]);
  });
  return out;
}

/** Appends `more` into `into`: values of a key already present are added to its list. */
export function mergeAttributes(into: Attributes, more: Attributes): Attributes {
  for (const [k, v] of more) {
    const list = into.get(k);
    if (list) list.push(...v);
    else into.set(k, [...v]);
  }
  return into;
}

/** One value stays a string, several become a list (Mender's JSON shape). */
export function attributeValue(values: string[]): string | string[] {
  return values.length === 1 ? values[0]! : values;
}
