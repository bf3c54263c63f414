/**
 * Pure formatting helpers of the CLI.
 */
import { describe, expect, it } from 'vitest';
import { csvField, csvRecord } from '../../src/cli/csv.js';
import { summarizeEvent } from '../../src/cli/commands/audit.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { formatDuration, formatTimeLeft, makeStyle, renderTable, truncate } from '../../src/cli/format.js';

describe('format', () => {
  it('formats durations for people', () => {
    expect(formatDuration(-5)).toBe('0s');
    expect(formatDuration(45_000)).toBe('45s');
    expect(formatDuration(65_000)).toBe('1m 5s');
    expect(formatDuration(120_000)).toBe('2m');
    expect(formatDuration(3 * 3600_000 + 20 * 60_000)).toBe('3h 20m');
    expect(formatDuration(2 * 86_400_000 + 4 * 3600_000)).toBe('2d 4h');
    expect(formatTimeLeft('2030-01-01T00:00:00Z', Date.parse('2030-01-01T00:00:01Z'))).toBe('expired');
  });

  it("audit tail shows a tool's duration to the hundredth of a millisecond, not performance.now()'s noise", () => {
    const event = { seq: 1, ts: '2026-12-05T00:00:00.000Z', type: 'action.completed', agentId: 'a', actionId: 'x1', approvalId: null, actor: 'a', data: { status: 'completed', durationMs: 0.03898499999991145 } };
    expect(summarizeEvent(event as never)).toBe('status=completed durationMs=0.04 action=x1');
    expect(summarizeEvent({ ...event, data: { durationMs: 1234.5678 } } as never)).toBe('durationMs=1234.57 action=x1');
  });

  it('aligns table columns, truncates long cells, right-aligns numbers', () => {
    const rows = [
      { id: 'a', n: 5, text: 'short' },
      { id: 'bbbb', n: 1234, text: 'a very long piece of text indeed' },
    ];
    const table = renderTable(
      rows,
      [
        { header: 'ID', cell: (r) => r.id },
        { header: 'N', cell: (r) => String(r.n), alignRight: true },
        { header: 'TEXT', cell: (r) => r.text, maxChars: 10 },
      ],
      makeStyle(false),
    );
    expect(table).toBe('ID       N  TEXT\na        5  short\nbbbb  1234  a very lo…\n');
    expect(truncate('abc', 3)).toBe('abc');
  });

  it('colours only when enabled, and alignment ignores escape codes', () => {
    const style = makeStyle(true);
    const table = renderTable([{ s: style.red('x') }, { s: 'yy' }], [{ header: 'S', cell: (r) => r.s }, { header: 'T', cell: () => 't' }], makeStyle(false));
    const lines = table.split('\n');
    expect(lines[1]!.replace(/\u001b\[[0-9;]*m/g, '')).toBe('x   t');
    expect(lines[2]).toBe('yy  t');
  });

  it('quotes CSV per RFC 4180', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(' padded')).toBe('" padded"');
    expect(csvRecord(['1', '{"a":"b,c"}'])).toBe('1,"{""a"":""b,c""}"\r\n');
  });

  it('exit codes are stable', () => {
    expect(ExitCode).toEqual({ OK: 0, CHECK_FAILED: 1, USAGE: 2, NOT_FOUND: 3, CONFLICT: 4, STORE_ERROR: 5, PERMISSION_DENIED: 6 });
  });
});
