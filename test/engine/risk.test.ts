import { describe, expect, it } from 'vitest';
import { assessRisk, classifyVerb, detectArgumentRisks, verbFactor, velocityFactor } from '../../src/engine/index.js';
import { luhnValid } from '../../src/engine/risk.js';
import { MAX_SCAN_CHARS } from '../../src/engine/detectors.js';
import type { RiskFactor } from '../../src/core/types.js';
import { request } from './helpers.js';

/** Names of the detector factors that fire for these parameters (and resource). */
function detect(parameters: Record<string, unknown>, resource = 'r'): string[] {
  const out: RiskFactor[] = [];
  detectArgumentRisks(request({ parameters, resource }), out);
  return out.map((f) => f.name);
}

describe('verb class', () => {
  it.each([
    ['database.query', 'low', 5],
    ['file.read', 'low', 5],
    ['http.get', 'low', 5],
    ['crm.search', 'low', 5],
    ['file.write', 'medium', 25],
    ['email.send', 'medium', 25],
    ['http.post', 'medium', 25],
    ['ticket.create', 'medium', 25],
    ['file.delete', 'high', 50],
    ['database.drop_table', 'high', 50],
    ['financial.transfer', 'high', 50],
    ['shell.exec', 'high', 50],
    ['database.execute', 'high', 50],
    ['payments.pay', 'high', 50],
    ['users.removeUser', 'high', 50],
    ['frobnicate', 'unknown', 15],
  ] as const)('%s is %s (%i points)', (actionType, cls, points) => {
    expect(classifyVerb(actionType).cls).toBe(cls);
    expect(verbFactor(actionType)).toMatchObject({ name: 'verb_class', points });
  });

  it('the last segment decides before the namespace', () => {
    // "delete" in the namespace does not make a list call destructive.
    expect(classifyVerb('deleted_items.list').cls).toBe('low');
    // The namespace is used when the last segment has no known verb.
    expect(classifyVerb('shell.bash').cls).toBe('high');
  });
});

describe('argument detectors', () => {
  it('SQL UPDATE/DELETE without WHERE', () => {
    expect(detect({ query: 'UPDATE users SET admin = true' })).toEqual(['sql_write_without_where']);
    expect(detect({ query: 'delete from orders' })).toEqual(['sql_write_without_where']);
    expect(detect({ query: 'SELECT 1; DELETE FROM orders' })).toEqual(['sql_write_without_where']);
    expect(detect({ query: 'UPDATE users SET admin = true WHERE id = 4' })).toEqual([]);
    expect(detect({ query: 'DELETE FROM orders WHERE id = 4' })).toEqual([]);
    expect(detect({ body: 'Please update the doc when you can' })).toEqual([]);
  });

  it('DROP / TRUNCATE', () => {
    expect(detect({ sql: 'DROP TABLE users' })).toEqual(['sql_destructive']);
    expect(detect({ sql: 'select 1; truncate audit_log' })).toEqual(['sql_destructive']);
    expect(detect({ sql: 'SELECT * FROM drop_offs' })).toEqual([]);
    expect(detect({ note: 'we may drop the idea' })).toEqual([]);
  });

  it.each(['rm -rf /', 'rm -fr ~/work', 'sudo apt-get install x', 'mkfs.ext4 /dev/sdb1', 'dd if=/dev/zero of=/dev/sda', 'chmod 777 /etc/passwd', 'chmod -R 777 /', 'cat x > /dev/sda', 'echo ok && sudo reboot'])(
    'destructive shell: %s',
    (command) => {
      expect(detect({ command })).toEqual(['destructive_shell']);
    },
  );

  it.each(['ls -la', 'rm file.txt', 'rm -r build', 'chmod 644 file', 'echo pseudo sudoku', 'git add .'])('harmless shell: %s', (command) => {
    expect(detect({ command })).toEqual([]);
  });

  it('wildcard resource', () => {
    expect(detect({}, 's3://bucket/*')).toEqual(['wildcard_resource']);
    expect(detect({}, 's3://bucket/key')).toEqual([]);
  });

  it('secrets by shape', () => {
    expect(detect({ note: 'key AKIAIOSFODNN7EXAMPLE here' })).toEqual(['secret_in_arguments']);
    expect(detect({ note: 'sk-proj-abcdefghijklmnopqrstuvwxyz012345' })).toEqual(['secret_in_arguments']);
    expect(detect({ pem: '-----BEGIN RSA PRIVATE KEY-----\nMIIE...' })).toEqual(['secret_in_arguments']);
    expect(detect({ header: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U' })).toEqual([
      'secret_in_arguments',
    ]);
  });

  it('secrets by key name', () => {
    expect(detect({ password: 'hunter2' })).toEqual(['secret_in_arguments']);
    expect(detect({ api_token: '3f2a9c0d4e5b6a7980716253443f2a9c' })).toEqual(['secret_in_arguments']);
    expect(detect({ client_secret: 'dGhpcyBpcyBhIHNlY3JldCB2YWx1ZQ==' })).toEqual(['secret_in_arguments']);
    // A secret-ish key with an ordinary value, and an ordinary key with a long token, do not fire.
    expect(detect({ token_type: 'bearer' })).toEqual([]);
    expect(detect({ commit: '3f2a9c0d4e5b6a7980716253443f2a9c' })).toEqual([]);
    expect(detect({ note: 'ask for the sk-123 thing' })).toEqual([]);
  });

  it('PII: email, SSN, card numbers (Luhn)', () => {
    expect(detect({ to: 'bob@example.com' })).toEqual(['pii_email']);
    expect(detect({ note: 'SSN 123-45-6789' })).toEqual(['pii_ssn']);
    expect(detect({ card: '4111 1111 1111 1111' })).toEqual(['pii_credit_card']);
    expect(detect({ card: '4111-1111-1111-1112' })).toEqual([]); // fails Luhn
    expect(detect({ note: 'order 000-12-3456 shipped' })).toEqual([]); // invalid SSN area
    expect(detect({ note: 'meet @ noon' })).toEqual([]);
    expect(luhnValid('79927398713')).toBe(true);
    expect(luhnValid('79927398710')).toBe(false);
  });

  it('large amounts', () => {
    expect(detect({ amount: 10_000 })).toEqual(['large_amount']);
    expect(detect({ total: '25,000.50' })).toEqual(['large_amount']);
    expect(detect({ payment: { transferAmount: 99_999 } })).toEqual(['large_amount']);
    expect(detect({ amount: 9_999.99 })).toEqual([]);
    expect(detect({ count: 1_000_000 })).toEqual([]);
  });

  it('scans nested values, each detector fires once', () => {
    const out: RiskFactor[] = [];
    detectArgumentRisks(request({ parameters: { a: { b: ['x', { c: 'rm -rf /' }] }, d: 'sudo ls', e: 'bob@example.com', f: 'amy@example.com' } }), out);
    expect(out.map((f) => f.name)).toEqual(['destructive_shell', 'pii_email']);
    expect(out[0]?.detail).toContain('parameters.a.b[1].c');
  });

  it('details never quote the secret', () => {
    const out: RiskFactor[] = [];
    detectArgumentRisks(request({ parameters: { password: 'hunter2' } }), out);
    expect(JSON.stringify(out)).not.toContain('hunter2');
  });

  it('scans whole strings up to the per-call limit, and flags what lies beyond it', () => {
    expect(detect({ blob: 'x'.repeat(10_000) + ' rm -rf /' })).toEqual(['destructive_shell']);
    expect(detect({ blob: 'rm -rf / ' + 'x'.repeat(10_000) })).toEqual(['destructive_shell']);
    expect(detect({ blob: 'x'.repeat(MAX_SCAN_CHARS) + ' rm -rf /' })).toEqual(['not_inspected']);
    expect(detect({ a: 'x'.repeat(MAX_SCAN_CHARS - 5), b: 'rm -rf / now' })).toEqual(['not_inspected']);
  });

  it('reads keys that are not plain names; plain names are not mistaken for content', () => {
    expect(detect({ 'rm -rf /': true })).toEqual(['destructive_shell']);
    expect(detect({ truncate: true, delete_after: 3 })).toEqual([]);
  });

  it('rm -Rf is a destructive command too', () => {
    expect(detect({ command: 'rm -Rf /var/lib' })).toEqual(['destructive_shell']);
  });

  it('no string parameters, no factors', () => {
    expect(detect({ n: 1, ok: true, nothing: null })).toEqual([]);
  });
});

describe('velocity', () => {
  it('fires when the last minute is well above the baseline', () => {
    expect(velocityFactor({ lastMinute: 60, baselinePerMinute: 12 })).toMatchObject({ name: 'velocity', points: 15 });
    expect(velocityFactor({ lastMinute: 200, baselinePerMinute: 5 })).toMatchObject({ name: 'velocity', points: 30 });
  });
  it('does not fire for a steady rate, a few calls, or a busy baseline', () => {
    expect(velocityFactor({ lastMinute: 20, baselinePerMinute: 0 })).toBeNull();
    expect(velocityFactor({ lastMinute: 100, baselinePerMinute: 90 })).toBeNull();
    expect(velocityFactor({ lastMinute: 0, baselinePerMinute: 0 })).toBeNull();
  });
});

describe('assessRisk', () => {
  it('sums factors and caps at 100', () => {
    const r = assessRisk(request({ actionType: 'shell.exec', resource: '*', parameters: { command: 'sudo rm -rf /', password: 'x1234' } }), null);
    expect(r.factors.map((f) => f.name)).toEqual(['verb_class', 'wildcard_resource', 'destructive_shell', 'secret_in_arguments']);
    expect(r.score).toBe(100);
  });
  it('rule risk only raises the score', () => {
    const raised = assessRisk(request({ actionType: 'file.read' }), null, { points: 60, ruleId: 'r' });
    expect(raised.score).toBe(60);
    expect(raised.factors.at(-1)).toEqual({ name: 'rule_risk', points: 55, detail: 'rule "r" sets the risk to at least 60' });
    const kept = assessRisk(request({ actionType: 'file.delete' }), null, { points: 20, ruleId: 'r' });
    expect(kept.score).toBe(50);
    expect(kept.factors.map((f) => f.name)).toEqual(['verb_class']);
  });
});

describe('tool annotations (MCP hints)', () => {
  it('a destructive or open-world tool scores higher; a read-only claim lowers nothing', () => {
    const plain = assessRisk(request({ actionType: 'mcp.fs.write_file' }), null);
    const destructive = assessRisk(request({ actionType: 'mcp.fs.write_file', context: { toolAnnotations: { destructiveHint: true, openWorldHint: true } } }), null);
    expect(destructive.score - plain.score).toBe(40);
    expect(destructive.factors.map((f) => f.name)).toEqual(expect.arrayContaining(['tool_destructive_hint', 'tool_open_world_hint']));
    const claimsReadOnly = assessRisk(request({ actionType: 'mcp.fs.write_file', context: { toolAnnotations: { readOnlyHint: true } } }), null);
    expect(claimsReadOnly.score).toBe(plain.score);
  });
});
