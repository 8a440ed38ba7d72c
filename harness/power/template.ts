// Board files describe power switches with placeholders (`uhubctl -l {hub} -p {port} -a off`);
// a placeholder without a value is a board-file mistake and must say which one.

export type TemplateVars = Readonly<Record<string, string | number>>;

export function fillTemplate(template: string, vars: TemplateVars, encode: (s: string) => string = (s) => s): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = vars[key];
    if (value === undefined) {
      const known = Object.keys(vars);
      throw new Error(`template ${JSON.stringify(template)} uses {${key}} but no value was given${known.length ? ` (have: ${known.join(', ')})` : ''}`);
    }
    return encode(String(value));
  });
}

/** Placeholders a template needs, for checking a board file before the first power cut. */
export function templateKeys(template: string): string[] {
  return [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
}
