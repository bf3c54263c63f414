/**
 * The starter policy: what `ascend init` writes to `ascend.policy.yaml`, and what the embedded
 * client uses when no policy file exists.
 */

/** A sensible, commented starting point (YAML). Parses with `parsePolicy`. */
export const STARTER_POLICY_YAML = `# Ascend policy — decides, for every governed tool call, allowed / denied / pending (a person decides).
# Reference: globs use * (any run of characters) and ? (one character). Conditions ("when") are CEL:
# variables parameters, resource, action, agent (id, type, metadata), context.
# Reading a parameter that is absent is an error, and an error DENIES the call:
# guard optional ones with has(), e.g. has(parameters.amount) && parameters.amount > 100.
# Regexes (RE2 syntax, (?i) = ignore case) read best as CEL raw strings: x.matches(r"^\\s*select\\b").
# Check this file with:  ascend policy check ascend.policy.yaml
version: 1

# enforce: decisions apply. monitor: everything is allowed and the would-be decision is recorded
# (shadowDecision) — use it to try a policy on real traffic first.
mode: enforce

# What a call that no rule matches gets: deny | allow | require_approval.
default: require_approval

# How long a pending call waits for a person before it is denied.
approvalTimeoutSeconds: 300

# Risk scores (0-100) only ever make a decision stricter: an allowed call scoring 70+ waits for
# a person, anything scoring 90+ is denied. A rule's deny or require_approval always stands.
risk:
  requireApprovalAt: 70
  denyAt: 90

# Capability names agents may register (client.register({ capabilities: ["data_access"] })), each
# standing for action-type globs. A name gates the action types it covers: an agent that registered
# names may do what they cover, and nothing another name covers; action types no name covers (money
# here: see the rules) are left to the rules. Agents may also register action-type globs
# ("database.*"), which allow exactly what they match. A name not defined here restricts nothing
# (registering it logs a warning). data_access and file_operations are the original Python SDK's.
capabilities:
  data_access: ["database.query", "database.read*", "database.select", "sql.query", "*.read", "*.get", "*.list", "*.search", "*.fetch", "*.view", "*.describe"]
  data_write: ["database.execute", "database.insert", "database.update", "database.delete", "database.write*", "sql.execute"]
  file_operations: ["file.*", "files.*", "fs.*"]
  messaging: ["email.*", "sms.*", "slack.*", "chat.*"]
  shell_access: ["shell.*", "command.*", "terminal.*", "*.exec"]
  web_access: ["http.*", "web.*", "browser.*", "api.*"]

# Combination: any matching deny wins, then require_approval, then allow.
rules:
  # --- Reads -----------------------------------------------------------------------------------
  - id: allow-reads
    description: Reading, listing and searching are allowed.
    actions: ["*.read", "*.get", "*.list", "*.search", "*.fetch", "*.view", "*.describe"]
    effect: allow

  - id: allow-select-sql
    description: Read-only SQL is allowed on any database; other SQL goes to the default (a person).
    actions: ["database.*", "sql.*"]
    when: 'has(parameters.query) && type(parameters.query) == string && parameters.query.matches(r"(?i)^\\s*(select|with|explain|show)\\b") && !parameters.query.matches(r"(?i)\\b(insert|update|delete|drop|truncate|alter|grant|create)\\b")'
    effect: allow

  # --- Destructive operations ---------------------------------------------------------------------
  - id: deny-destructive-sql
    description: DROP, TRUNCATE and writes to every row are never run by an agent.
    actions: ["database.*", "sql.*"]
    when: 'has(parameters.query) && type(parameters.query) == string && (parameters.query.matches(r"(?i)\\b(drop|truncate)\\s+") || parameters.query.matches(r"(?i)^\\s*(delete\\s+from|update)\\b[^;]*$") && !parameters.query.matches(r"(?i)\\bwhere\\b"))'
    effect: deny
    risk: 95
    reason: Destructive SQL (DROP, TRUNCATE, or UPDATE/DELETE without WHERE) is not allowed.

  - id: deny-destructive-shell
    description: Commands that wipe data or escalate privileges are never run by an agent.
    actions: ["shell.*", "*.exec", "*.execute", "command.*"]
    when: 'has(parameters.command) && type(parameters.command) == string && parameters.command.matches(r"(\\brm\\s+-[a-zA-Z]*[rR][a-zA-Z]*f|\\brm\\s+-[a-zA-Z]*f[a-zA-Z]*[rR]|(^|[\\s;&|])sudo\\s|\\bmkfs|\\bdd\\s+if=|chmod\\s+(-R\\s+)?777|>\\s*/dev/sd)")'
    effect: deny
    risk: 95
    reason: Destructive or privileged shell commands (rm -rf, sudo, mkfs, dd, chmod 777) are not allowed.

  # --- Writes ------------------------------------------------------------------------------------
  - id: allow-writes
    description: >-
      Writes are allowed; the risk thresholds above still send risky ones (secrets, wildcards,
      personal data, bursts) to a person.
    actions: ["*.write", "*.create", "*.update", "*.send", "*.post", "*.put", "*.patch", "*.upload", "*.insert"]
    effect: allow

  # --- Money -------------------------------------------------------------------------------------
  - id: big-transfers
    description: Transfers above 10,000 need a second pair of eyes.
    actions: ["financial.*", "payment.*", "*.transfer", "*.pay"]
    when: 'has(parameters.amount) && parameters.amount > 10000'
    effect: require_approval
    approvers: ["finance-team"]
    risk: 80
    reason: Transfers above 10,000 need approval from finance.

  - id: small-transfers
    description: Transfers up to 10,000 are allowed.
    actions: ["financial.*", "payment.*", "*.transfer", "*.pay"]
    when: 'has(parameters.amount) && parameters.amount <= 10000'
    effect: allow

  # --- Rate limits -------------------------------------------------------------------------------
  - id: email-rate-limit
    description: At most 50 emails an hour per agent; more are denied until the hour rolls over.
    actions: ["email.send", "email.*send*"]
    limit: { count: 50, per: 1h, scope: agent }
    effect: deny
    reason: This agent already sent 50 emails in the last hour.
`;

/**
 * Starter policy tests: what `ascend init` writes to `ascend.cases.yaml`. Every case passes
 * against {@link STARTER_POLICY_YAML} (a test checks it).
 */
export const STARTER_CASES_YAML = `# Ascend policy tests: each case is a call and the decision the policy must give it.
# Run them, in CI too:  ascend policy test ascend.policy.yaml --cases ascend.cases.yaml
# (exit 1 when any case fails). Each case is evaluated alone: no budget is spent, no history counts.
# Fields: name, request { agentId?, actionType, resource?, parameters?, context? }, agent? (a
# registration: capabilities, allowedResources, metadata…), expect: allowed | denied | pending,
# expectRules? (exactly the rules that must match), expectRiskAtLeast? (0-100).
cases:
  - name: read-only SQL runs
    request:
      actionType: database.query
      resource: production_db
      parameters: { query: "SELECT id, name FROM customers WHERE id = 42" }
    expect: allowed
    expectRules: [allow-select-sql]

  - name: DROP TABLE is refused
    request:
      actionType: database.query
      resource: production_db
      parameters: { query: "DROP TABLE customers" }
    expect: denied
    expectRules: [deny-destructive-sql]
    expectRiskAtLeast: 90

  - name: rm -rf is refused
    request:
      actionType: shell.exec
      resource: build-host
      parameters: { command: "rm -rf /var/lib/data" }
    expect: denied
    expectRules: [deny-destructive-shell]

  - name: a large transfer waits for finance
    request:
      actionType: payment.transfer
      resource: acct-42
      parameters: { amount: 25000, to: acme-supplies }
    expect: pending
    expectRules: [big-transfers]

  - name: an agent registered for data access only may not send mail
    agent: { capabilities: [data_access] }
    request:
      actionType: email.send
      resource: smtp
      parameters: { to: ops@example.com, subject: report }
    expect: denied
`;
