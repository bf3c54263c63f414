/**
 * One error shape for every answer that is not a success: `{ error: { code, message, details } }`.
 * Bad input is a 4xx naming the field at fault; an unexpected failure is a 500 whose details
 * stay in the server log.
 */
import * as z from 'zod';
import { AscendError, ValidationError, validationIssues } from '../core/errors.js';
import { knownDecisionOf } from '../decision/unreachable.js';

const STATUS_BY_CODE: Record<string, number> = {
  validation_error: 400,
  authentication_error: 401,
  authorization_error: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  policy_error: 500,
  store_error: 503,
  timeout: 504,
};

/** A wire error: status and body. */
export interface HttpError {
  status: number;
  body: { error: { code: string; message: string; details?: Record<string, unknown> } };
}

/** Map anything thrown in a handler (or by Fastify) to the wire error. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof AscendError) {
    const details: Record<string, unknown> = { ...err.details };
    const known = knownDecisionOf(err);
    // A client in fail-open mode must still honour what the engine decided before the store failed.
    if (known) details.knownDecision = known;
    return wire(STATUS_BY_CODE[err.code] ?? 500, err.code, err.message, details);
  }
  const fastify = err as { statusCode?: number; code?: string; message?: string };
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    const status = fastify.statusCode;
    const code = status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : status === 404 ? 'not_found' : 'validation_error';
    const message = fastify.message ?? 'Bad request';
    const issues = code === 'validation_error' ? [{ path: '(body)', message }] : undefined;
    return wire(status, code, message, issues ? { issues } : {});
  }
  return wire(500, 'internal_error', 'Internal server error (logged on the server)', {});
}

function wire(status: number, code: string, message: string, details: Record<string, unknown>): HttpError {
  return { status, body: { error: Object.keys(details).length > 0 ? { code, message, details } : { code, message } } };
}

/** Parse `value` (the request's `where`) with `schema`, or throw a ValidationError naming each field. */
export function parseWire<S extends z.core.$ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'params' | 'headers'): z.output<S> {
  const parsed = z.safeParse(schema, value ?? {});
  if (parsed.success) return parsed.data;
  const { issues, summary } = validationIssues(parsed.error.issues, { prefix: where });
  throw new ValidationError(`Invalid request ${where}: ${summary}`, issues);
}
