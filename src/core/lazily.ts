/**
 * A value built the first time it is asked for, then kept. What a path may never use (a
 * schema only some commands read) is built this way, so a start does not pay for it
 * (docs/architecture.md, "Performance budgets": the cold start).
 */
export function lazily<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
}
