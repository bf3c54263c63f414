/**
 * CSV per RFC 4180: fields with a comma, quote, CR or LF (or edge spaces) are quoted, quotes
 * doubled, records end with CRLF.
 */

/** One field, quoted when needed. */
export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One record, CRLF-terminated. */
export function csvRecord(values: readonly string[]): string {
  return values.map(csvField).join(',') + '\r\n';
}
