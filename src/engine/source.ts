/**
 * A policy file's text as a YAML document (JSON is YAML), keeping node positions so that every
 * problem can be reported at its line.
 */
import { createRequire } from 'node:module';
import type { Document } from 'yaml';

/**
 * The YAML library, required by the first policy parsed rather than imported: a process whose
 * policy comes from the compiled cache (src/policy/cache.ts) never pays its 30 ms load.
 */
function yaml(): typeof import('yaml') {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yamlModule;
}
let yamlModule: typeof import('yaml') | undefined;

/** 1-based line and column. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** A YAML syntax problem. */
export interface YamlProblem extends SourcePosition {
  code: string;
  message: string;
}

type Path = ReadonlyArray<string | number>;

interface RangedNode {
  range?: [number, number, number] | null;
}

/** The parsed document and a way back from paths to lines. */
export class PolicySource {
  private readonly lines: InstanceType<typeof import('yaml').LineCounter>;
  private readonly doc: Document.Parsed;
  private readonly text: string;

  constructor(text: string) {
    const { LineCounter, parseDocument } = yaml();
    this.text = text;
    this.lines = new LineCounter();
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  /** The first YAML syntax error, or null. */
  firstError(): YamlProblem | null {
    const error = this.doc.errors[0];
    if (!error) return null;
    const pos = error.linePos?.[0] ?? this.lines.linePos(error.pos[0]);
    return { code: error.code, message: error.message.split('\n')[0] ?? error.message, line: pos.line, column: pos.col };
  }

  /** The document as plain data. Aliases are expanded with a bound, against "billion laughs". */
  toJS(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 });
  }

  /** Where the node at `path` starts, or its nearest existing ancestor; line 1 for the root. */
  positionOf(path: Path): SourcePosition {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = depth === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, depth), true);
      const pos = this.startOf(node);
      if (pos) return pos;
    }
    return { line: 1, column: 1 };
  }

  /** Where the key `key` of the map at `path` is written, falling back to the map. */
  keyPositionOf(path: Path, key: string): SourcePosition {
    const node = path.length === 0 ? this.doc.contents : this.doc.getIn(path, true);
    const { isMap, isScalar } = yaml();
    if (isMap(node)) {
      for (const pair of node.items) {
        const k = pair.key;
        if ((isScalar(k) ? String(k.value) : String(k)) === key) {
          const pos = this.startOf(k);
          if (pos) return pos;
        }
      }
    }
    return this.positionOf(path);
  }

  /**
   * Where offset `offset` of the string value at `path` is, as well as can be told: exact lines
   * inside block scalars (`|`), the value's own line otherwise.
   */
  positionInString(path: Path, offset: number | undefined): SourcePosition {
    const node = this.doc.getIn(path, true);
    const start = this.positionOf(path);
    if (offset === undefined || !yaml().isScalar(node) || typeof node.value !== 'string') return start;
    if (node.type === 'BLOCK_LITERAL') {
      // An error at the very end (e.g. a truncated expression) belongs to the last written line.
      const content = node.value.replace(/\s+$/, '');
      const before = node.value.slice(0, Math.min(offset, content.length));
      const newlines = before.split('\n').length - 1;
      return { line: start.line + 1 + newlines, column: 1 };
    }
    const range = node.range;
    if (range && (node.type === 'PLAIN' || node.type === 'QUOTE_SINGLE' || node.type === 'QUOTE_DOUBLE')) {
      // Exact only when the value is written as is (no escapes, no folded lines).
      const quote = node.type === 'PLAIN' ? 0 : 1;
      if (this.text.slice(range[0] + quote, range[1] - quote) === node.value && !node.value.includes('\n')) {
        return { line: start.line, column: start.column + quote + offset };
      }
    }
    return start;
  }

  private startOf(node: unknown): SourcePosition | null {
    const range = (node as RangedNode | null | undefined)?.range;
    if (!range) return null;
    const pos = this.lines.linePos(range[0]);
    return { line: pos.line, column: pos.col };
  }
}
