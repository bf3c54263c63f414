/**
 * Text output shared by every command: aligned tables, durations, times, colour, JSON.
 * Plain text when not a TTY, so output pipes and diffs cleanly.
 */

/** Styles used by the CLI; identity functions when colour is off. */
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
}

const plain = (text: string): string => text;
const ansi = (open: number, close: number) => (text: string): string => `\u001b[${open}m${text}\u001b[${close}m`;

/** A {@link Style} that colours when `enabled`. */
export function makeStyle(enabled: boolean): Style {
  if (!enabled) return { bold: plain, dim: plain, red: plain, green: plain, yellow: plain };
  return { bold: ansi(1, 22), dim: ansi(2, 22), red: ansi(31, 39), green: ansi(32, 39), yellow: ansi(33, 39) };
}

/** Colour a decision or status word by what it means for the caller. */
export function styleStatus(style: Style, status: string): string {
  switch (status) {
    case 'allowed':
    case 'approved':
    case 'active':
    case 'ok':
      return style.green(status);
    case 'denied':
    case 'rejected':
    case 'blocked':
    case 'revoked':
      return style.red(status);
    case 'pending':
      return style.yellow(status);
    default:
      return status;
  }
}

/** Length as a terminal shows it: ANSI escapes take no columns. */
function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '').length;
}

/** Cut `text` to `maxChars` with an ellipsis; tables stay readable with long resources. */
export function truncate(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, Math.max(0, maxChars - 1))}…`;
}

/** A table column: its header and how to get a cell from a row. */
export interface Column<Row> {
  header: string;
  cell: (row: Row) => string;
  /** Right-align (numbers). */
  alignRight?: boolean;
  /** Longer cells are truncated with an ellipsis. */
  maxChars?: number;
}

/** Render rows as an aligned table with a header line; every line ends with a newline. */
export function renderTable<Row>(rows: readonly Row[], columns: ReadonlyArray<Column<Row>>, style: Style): string {
  const cells = rows.map((row) =>
    columns.map((col) => {
      const raw = col.cell(row).replace(/\s*\n\s*/g, ' ');
      return col.maxChars === undefined ? raw : truncate(raw, col.maxChars);
    }),
  );
  const widths = columns.map((col, i) => Math.max(col.header.length, ...cells.map((r) => visibleLength(r[i] ?? ''))));
  const pad = (text: string, i: number): string => {
    const gap = ' '.repeat(Math.max(0, (widths[i] ?? 0) - visibleLength(text)));
    return columns[i]?.alignRight ? gap + text : text + gap;
  };
  const line = (texts: string[]): string => texts.map(pad).join('  ').trimEnd() + '\n';
  return style.bold(line(columns.map((c) => c.header)).trimEnd()) + '\n' + cells.map(line).join('');
}

/** `key: value` lines with the values aligned, for `show` views. */
export function renderFields(fields: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(0, ...fields.map(([k]) => k.length)) + 1;
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}\n`).join('');
}

/** `risk factors:` and one `  +points  name  detail` line per factor. */
export function renderRiskFactors(factors: ReadonlyArray<{ name: string; points: number; detail: string }>): string {
  if (factors.length === 0) return 'risk factors: none\n';
  const nameWidth = Math.max(...factors.map((f) => f.name.length));
  return 'risk factors:\n' + factors.map((f) => `  ${`+${f.points}`.padStart(4)}  ${f.name.padEnd(nameWidth)}  ${f.detail}\n`).join('');
}

/** A duration for people: `45s`, `12m 5s`, `3h 20m`, `2d 4h`. Negative counts as zero. */
export function formatDuration(durationMs: number): string {
  const totalSeconds = Math.max(0, Math.floor(durationMs / 1000));
  const days = Math.floor(totalSeconds / 86_400);
  const hours = Math.floor((totalSeconds % 86_400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (days > 0) return hours > 0 ? `${days}d ${hours}h` : `${days}d`;
  if (hours > 0) return minutes > 0 ? `${hours}h ${minutes}m` : `${hours}h`;
  if (minutes > 0) return seconds > 0 ? `${minutes}m ${seconds}s` : `${minutes}m`;
  return `${seconds}s`;
}

/** Time left until `isoTime`, or `expired`. */
export function formatTimeLeft(isoTime: string, nowMs: number): string {
  const leftMs = Date.parse(isoTime) - nowMs;
  return leftMs <= 0 ? 'expired' : formatDuration(leftMs);
}

/** An ISO time shortened for tables: `2025-01-31 14:05:09` (UTC). */
export function formatTime(isoTime: string): string {
  const ms = Date.parse(isoTime);
  if (Number.isNaN(ms)) return isoTime;
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** The single JSON document printed with `--json`. */
export function jsonDocument(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** One JSON line, for streams (`watch`, `--follow`, `export --format jsonl`). */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value) + '\n';
}
