/** "Did you mean" suggestions for misspelt names (core types, profiles, software). */
function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** Up to `max` candidates close to `input` (case-insensitive), closest first. */
export function suggest(input: string, candidates: string[], max = 3): string[] {
  const needle = input.toLowerCase();
  return candidates
    .map((c) => {
      const hay = c.toLowerCase();
      const distance = hay.includes(needle) || needle.includes(hay) ? 0 : levenshtein(needle, hay);
      return { c, distance };
    })
    .filter((x) => x.distance <= Math.max(2, Math.floor(needle.length / 3)))
    .sort((a, b) => a.distance - b.distance || a.c.localeCompare(b.c))
    .slice(0, max)
    .map((x) => x.c);
}
