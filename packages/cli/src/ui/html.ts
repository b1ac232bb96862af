/**
 * Server-rendered HTML for `rescale-run ui`: one tagged template, `html`, that escapes every interpolated value
 * unless it is already `SafeHtml` (another `html` fragment). Escaping is the default, so a job name, a file name or
 * a core type from the platform can never become markup.
 */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

function escapeValue(value: unknown): string {
  if (value instanceof SafeHtml) return value.text;
  if (value === null || value === undefined || value === false) return "";
  if (Array.isArray(value)) return value.map(escapeValue).join("");
  return String(value).replace(/[&<>"']/g, (ch) => ENTITIES[ch]!);
}

/** `html\`<td>${name}</td>\``: interpolations escaped; arrays joined; null, undefined and false render nothing. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += escapeValue(values[i]) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** JSON for an inline script: `<` escaped so no string in it can close the script element. */
export function scriptJson(value: unknown): SafeHtml {
  return new SafeHtml(JSON.stringify(value).replace(/</g, "\\u003c"));
}

/** Trusted markup written in this package (the style sheet): never pass it data. */
export function trusted(text: string): SafeHtml {
  return new SafeHtml(text);
}
