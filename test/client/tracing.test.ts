/**
 * With OpenTelemetry installed and a tracer provider registered, a governed call emits
 * `ascend.govern` with `ascend.evaluate`, `ascend.run` and `ascend.record` children, and a
 * pending call an `ascend.wait` span; a denial marks the root span failed.
 */
import path from 'node:path';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import { AscendClient } from '../../src/index.js';
import { captureLogs, tempDir, TEST_POLICY, writePolicy } from '../helpers.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
trace.setGlobalTracerProvider(provider);
afterAll(async () => {
  trace.disable();
  await provider.shutdown();
});

describe('OpenTelemetry spans', () => {
  it('trace evaluate, wait, run and record', async () => {
    const dir = tempDir();
    const client = new AscendClient({
      agentId: 'traced',
      policy: writePolicy(dir, TEST_POLICY),
      dataDir: path.join(dir, '.ascend'),
      logDestination: captureLogs().destination,
      onApprovalRequired: () => ({ approved: true, decidedBy: 'tester' }),
    });
    try {
      await client.govern({ actionType: 'db.query', parameters: { sql: 'select 1' } }, () => 1);
      const spans = exporter.getFinishedSpans();
      const root = spans.find((s) => s.name === 'ascend.govern')!;
      expect(root).toBeDefined();
      const children = spans.filter((s) => s.parentSpanContext?.spanId === root.spanContext().spanId).map((s) => s.name);
      expect(children).toEqual(['ascend.evaluate', 'ascend.run', 'ascend.record']);
      expect(spans.find((s) => s.name === 'ascend.evaluate')!.attributes['ascend.decision']).toBe('allowed');

      exporter.reset();
      await client.govern({ actionType: 'payments.transfer', parameters: { amount: 5000 } }, () => 1);
      expect(exporter.getFinishedSpans().find((s) => s.name === 'ascend.wait')!.attributes['ascend.approval_status']).toBe('approved');

      exporter.reset();
      await client.govern({ actionType: 'db.execute', parameters: { sql: 'drop table x' } }, () => 1).catch(() => undefined);
      const denied = exporter.getFinishedSpans().find((s) => s.name === 'ascend.govern')!;
      expect(denied.status.code).toBe(2);
      expect(exporter.getFinishedSpans().some((s) => s.name === 'ascend.run')).toBe(false);
    } finally {
      await client.close();
    }
  });
});
