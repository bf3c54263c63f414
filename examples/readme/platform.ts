/**
 * The README's platform excerpt as a whole program, run by test/readme.test.ts against the
 * stand-in of the hosted ASCEND platform (test/fixtures/platform-stand-in.ts), whose address
 * and key the test passes in PLATFORM_URL and PLATFORM_KEY. The lines between the README
 * markers are the README's block, verbatim.
 */
import { AscendClient } from 'ascend-sdk';

const platformUrl = process.env.PLATFORM_URL!;
const platformKey = process.env.PLATFORM_KEY!;

// ---- README.md, verbatim ----
const ascend = new AscendClient({
  agentId: 'billing-bot',
  protocol: 'ascend-platform', // or ASCEND_PROTOCOL=ascend-platform
  apiUrl: platformUrl, // default: ASCEND_API_URL, OWKAI_API_URL, else https://pilot.owkai.app
  apiKey: platformKey, // an owkai_… key; default ASCEND_API_KEY
});
// ---- end of the README's block ----

const rows = await ascend.govern({ actionType: 'database.query', resource: 'crm', parameters: { query: 'SELECT name FROM customers' } }, () => [{ name: 'Ada' }]);
console.log('allowed:', JSON.stringify(rows));
const refused = await ascend.govern({ actionType: 'database.execute', resource: 'crm', parameters: { query: 'DROP TABLE customers' } }, () => 'dropped').catch((err: Error) => err.message);
console.log('denied:', refused);
await ascend.close();
