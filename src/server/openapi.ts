/**
 * `/v1/openapi.json`, made from the routes' own zod schemas.
 */
import * as z from 'zod';
import { ErrorResponseSchema } from '../core/wire.js';
import type { RouteDoc } from './router.js';

function jsonSchema(schema: z.core.$ZodType, io: 'input' | 'output'): Record<string, unknown> {
  return z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'openapi-3.0' }) as Record<string, unknown>;
}

/** The OpenAPI 3.0 document of the routes. */
export function openApiDocument(routes: readonly RouteDoc[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const error = { description: 'Error', content: { 'application/json': { schema: jsonSchema(ErrorResponseSchema, 'output') } } };
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [['path', route.params], ['query', route.query]] as const) {
      if (!schema) continue;
      const shape = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, property] of Object.entries(shape.properties ?? {})) {
        parameters.push({ name, in: where, required: where === 'path' || (shape.required ?? []).includes(name), schema: property });
      }
    }
    const operation: Record<string, unknown> = {
      summary: route.summary,
      description: `Roles: ${route.roles.join(', ')}`,
      security: [{ apiKey: [] }],
      parameters,
      responses: {
        '200': { description: 'OK', content: { 'application/json': { schema: jsonSchema(route.response, 'output') } } },
        '400': error,
        '401': error,
        '403': error,
        '404': error,
        '409': error,
      },
    };
    if (route.body) operation.requestBody = { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } };
    (paths[path] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.0.3',
    info: { title: 'Ascend HTTP API', version },
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'An Ascend API key: `ascend keys create`' },
      },
    },
    paths,
  };
}
