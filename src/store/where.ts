/**
 * WHERE clauses for the filtered reads of both stores (audit queries, approval and grant lists).
 * Clauses are written with `?` for their values; the dialect numbers them (`$1…` in PostgreSQL)
 * or keeps them (SQLite), and spells the filters whose SQL differs between the two.
 */

/** How one SQL dialect spells what {@link Where} builds. */
export interface WhereDialect {
  /** The placeholder of the `n`th parameter (from 1). */
  placeholder(n: number): string;
  /** `agent_id` has no `::` in it (an agent outside every organisation). */
  noOrganisation: string;
  /** `agent_id` starts with `prefix`: a clause with `?`s, and their values. */
  startsWith(prefix: string): [clause: string, values: unknown[]];
}

/** SQLite: `?` placeholders; `substr` compares the prefix exactly (no LIKE wildcards to escape). */
export const SQLITE_WHERE: WhereDialect = {
  placeholder: () => '?',
  noOrganisation: "instr(agent_id, '::') = 0",
  startsWith: (prefix) => ['substr(agent_id, 1, ?) = ?', [prefix.length, prefix]],
};

/** PostgreSQL: `$n` placeholders; `starts_with` compares the prefix exactly. */
export const POSTGRES_WHERE: WhereDialect = {
  placeholder: (n) => `$${n}`,
  noOrganisation: "strpos(agent_id, '::') = 0",
  startsWith: (prefix) => ['starts_with(agent_id, ?)', [prefix]],
};

/** WHERE clauses joined by AND, and their parameters in order. */
export class Where {
  readonly params: unknown[] = [];
  private readonly clauses: string[] = [];

  constructor(private readonly dialect: WhereDialect) {}

  /** Add `clause`, its `?`s standing for `values` in order. */
  add(clause: string, ...values: unknown[]): void {
    let next = 0;
    this.clauses.push(clause.replace(/\?/g, () => this.param(values[next++])));
  }

  /** `agent_id` starts with `prefix`; with `''`, contains no `::` (see AuditQuery.agentIdPrefix). */
  agentIdPrefix(prefix: string): void {
    if (prefix === '') this.add(`agent_id IS NOT NULL AND ${this.dialect.noOrganisation}`);
    else {
      const [clause, values] = this.dialect.startsWith(prefix);
      this.add(clause, ...values);
    }
  }

  /** Add a parameter; returns its placeholder. */
  param(value: unknown): string {
    this.params.push(value);
    return this.dialect.placeholder(this.params.length);
  }

  /** ` WHERE …`, or `''` without clauses. */
  sql(): string {
    return this.clauses.length > 0 ? ' WHERE ' + this.clauses.join(' AND ') : '';
  }
}
