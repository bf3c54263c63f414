/**
 * OpenTelemetry spans for the lifecycle (`ascend.govern` › `ascend.evaluate`, `ascend.wait`,
 * `ascend.run`, `ascend.record`) when `@opentelemetry/api` is installed — an optional peer: Ascend
 * never depends on it, and without it every function here is a no-op.
 */
import { createRequire } from 'node:module';

/** The slice of an OpenTelemetry span we use. */
export interface SpanLike {
  setAttribute(key: string, value: string | number | boolean): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

interface OtelApi {
  trace: {
    getTracer(name: string, version?: string): { startSpan(name: string, options?: { attributes?: Record<string, string | number | boolean> }, context?: unknown): SpanLike };
    setSpan(context: unknown, span: SpanLike): unknown;
  };
  context: { active(): unknown };
}

const STATUS_ERROR = 2;

function loadOtel(): OtelApi | undefined {
  try {
    return createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
  } catch {
    return undefined;
  }
}

/** Where `@opentelemetry/api` 1.x keeps what an SDK registered (a tracer provider, …). */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');
/** The API once loaded; `null` when it is not installed. */
let otel: OtelApi | null | undefined;
let tracer: ReturnType<OtelApi['trace']['getTracer']> | undefined;

/**
 * The API, loaded on the first span after something registered with it. Until then there is
 * nothing to send spans to, and loading it would cost every process's start (about 13 ms).
 */
function otelApi(): OtelApi | undefined {
  if (otel === undefined) {
    if ((globalThis as Record<symbol, unknown>)[OTEL_GLOBAL] === undefined) return undefined;
    otel = loadOtel() ?? null;
    tracer = otel?.trace.getTracer('ascend-sdk');
  }
  return otel ?? undefined;
}

/** Start a span (a child of `parent` when given); undefined when OpenTelemetry is absent or unused. */
export function startSpan(name: string, attributes: Record<string, string | number | boolean>, parent?: SpanLike): SpanLike | undefined {
  const api = otelApi();
  if (!api || !tracer) return undefined;
  return parent ? tracer.startSpan(name, { attributes }, api.trace.setSpan(api.context.active(), parent)) : tracer.startSpan(name, { attributes });
}

/** End a span, marking it failed with `error` when given. */
export function endSpan(span: SpanLike | undefined, error?: unknown): void {
  if (!span) return;
  if (error !== undefined) span.setStatus({ code: STATUS_ERROR, message: error instanceof Error ? error.message : String(error) });
  span.end();
}
