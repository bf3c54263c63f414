/**
 * Object schemas for the values checked on every governed call. `zod/mini`'s `z.object` checks
 * an object key by key; zod's compiled object (what its classic API builds) compiles a parser for
 * its shape on first use (`new Function`): about 0.1 ms once (up to 3 ms as the first in a
 * process), then about 0.7 µs less a check (`bench/input-check.ts`). A start pays that compile
 * for every object it checks, so only the per-call ones are compiled and the rest are `z.object`
 * (docs/architecture.md, "Schemas").
 */
// Imported by name: reaching it through `z.core` would keep all of zod's core in a bundle, its
// forty locales included.
import { $ZodObjectJIT } from 'zod/v4/core';
import type * as z from './zod.js';

/**
 * An object schema that compiles its parser on first use. It has no methods of its own: parse it
 * with `z.safeParse(schema, value)`, wrap it with `z.optional(schema)` and the like.
 */
export function compiledObject<Shape extends z.core.$ZodShape>(shape: Shape): z.core.$ZodObject<Shape, z.core.$strip> {
  // The constructor is typed for any shape; the instance is the object schema of this one.
  return new $ZodObjectJIT({ type: 'object', shape }) as unknown as z.core.$ZodObject<Shape, z.core.$strip>;
}
