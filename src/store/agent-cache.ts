/**
 * A cache of agent registrations for `getAgent`, which the engine calls on every evaluation.
 * Valid only while no other connection has committed (SQLite's `PRAGMA data_version` is
 * unchanged) and this store has not changed the agent itself — so a kill switch thrown from
 * another process still takes effect on the agent's very next call.
 */
import type { AgentRecord } from '../types.js';
import { agentFromRow, type AgentRow } from './records.js';

interface Entry {
  record: AgentRecord;
  metadataJson: string;
}

/** Parsed agents, dropped whenever the file may have changed under us. */
export class AgentCache {
  private readonly entries = new Map<string, Entry>();
  private version: number | undefined;

  /**
   * @param probe returns `PRAGMA data_version` (changes when another connection commits).
   * @param maxEntries the cache is emptied when it would grow past this.
   */
  constructor(
    private readonly probe: () => number,
    private readonly maxEntries = 1024,
  ) {}

  /** The agent (a fresh copy the caller may keep or change), loading its row on a miss. */
  get(agentId: string, load: () => AgentRow | undefined): AgentRecord | undefined {
    const version = this.probe();
    if (version !== this.version) {
      this.entries.clear();
      this.version = version;
    }
    let entry = this.entries.get(agentId);
    if (entry === undefined) {
      const row = load();
      if (row === undefined) return undefined;
      entry = { record: agentFromRow(row), metadataJson: row.metadata };
      if (this.entries.size >= this.maxEntries) this.entries.clear();
      this.entries.set(agentId, entry);
    }
    const r = entry.record;
    return {
      ...r,
      capabilities: r.capabilities.slice(),
      allowedResources: r.allowedResources.slice(),
      metadata: entry.metadataJson === '{}' ? {} : (JSON.parse(entry.metadataJson) as Record<string, unknown>),
    };
  }

  /** Forget an agent this store just changed (its own commits do not move data_version). */
  forget(agentId: string): void {
    this.entries.delete(agentId);
  }
}
