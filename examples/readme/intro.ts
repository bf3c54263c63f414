/**
 * The README's opening excerpt as a whole program, run by test/readme.test.ts. The lines between
 * the README markers are the README's block, verbatim; around them, stand-ins for what is the
 * reader's own: the client, a database and a query. Run in a directory without
 * `ascend.policy.yaml`, the starter policy decides: read-only SQL is allowed.
 */
import Database from 'better-sqlite3';
import { AscendClient } from 'ascend-sdk';

const ascend = new AscendClient({ agentId: 'support-bot', logLevel: 'silent' });
const sqlite = new Database(':memory:');
sqlite.exec("CREATE TABLE customers (name TEXT); INSERT INTO customers VALUES ('Ada'), ('Grace')");
const db = { query: (sql: string) => sqlite.prepare(sql).all() };
const query = 'SELECT name FROM customers';

// ---- README.md, verbatim ----
const rows = await ascend.govern(
  { actionType: 'database.query', resource: 'production_db', parameters: { query } },
  () => db.query(query),            // runs only if allowed (or approved); outcome recorded
);
// ---- end of the README's block ----

console.log(rows); // [ { name: 'Ada' }, { name: 'Grace' } ]
await ascend.close();
