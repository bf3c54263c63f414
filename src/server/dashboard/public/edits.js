// Edit and approve in the browser: the edits that turn the arguments an approver saw into the
// ones they typed. The same rules as `argumentEdits` in src/core/argument-edits.ts (a test holds the
// two to the same answers): objects compared member by member, anything else set whole.

/** Edits (`{ path, value }` or `{ path, remove: true }`) from `from` to `to`, both plain JSON. */
export function editsBetween(from, to) {
  const edits = [];
  const isRecord = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
  const walk = (a, b, path) => {
    for (const key of Object.keys(a)) if (!Object.hasOwn(b, key)) edits.push({ path: [...path, key], remove: true });
    for (const [key, value] of Object.entries(b)) {
      const had = Object.hasOwn(a, key);
      if (had && isRecord(a[key]) && isRecord(value)) walk(a[key], value, [...path, key]);
      else if (!had || JSON.stringify(a[key]) !== JSON.stringify(value)) edits.push({ path: [...path, key], value });
    }
  };
  walk(from, to, []);
  return edits;
}
