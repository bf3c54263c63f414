/**
 * What a redacted argument is stored as. Defined here, at the bottom of the layers, because the
 * engine's replay must recognise it (engine/replay.ts) and the client writes it (redact.ts).
 */
export const REDACTED_MARK = '[REDACTED]';
