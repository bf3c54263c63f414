/**
 * "Did you mean": the known name closest to a misspelt one, for errors about keys and values a
 * person typed (policy files, cases files, the client's options).
 */

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] as number;
      prev[j] = Math.min(up + 1, (prev[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] as number;
}

/** The candidate closest to `word` if it is close enough to be a typo, else undefined. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const lower = word.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3))) return best;
  // Not a typo but a longer or shorter name for the same thing (`policyFile` for `policy`,
  // `params` for `parameters`): all but the shorter one's last character in common, at least four.
  let prefixed: string | undefined;
  let longest = 0;
  for (const c of candidates) {
    const known = c.toLowerCase();
    const common = commonPrefixLength(known, lower);
    if (common >= Math.max(4, Math.min(known.length, lower.length) - 1) && common > longest) {
      prefixed = c;
      longest = common;
    }
  }
  return prefixed;
}

function commonPrefixLength(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}
