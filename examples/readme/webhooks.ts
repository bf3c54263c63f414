/**
 * The README's webhook excerpt as a whole program, run by test/readme.test.ts. The line between
 * the README markers is the README's block, verbatim. Around it: an admin client of an
 * `ascend serve`, found through ASCEND_API_URL and ASCEND_API_KEY (an admin key), and the secret
 * in HOOK_SECRET. The test's server runs with `--allow-private-webhooks`: that flag also skips the
 * check that the target's name resolves to a public address, and the test machine has no DNS.
 */
import { AscendClient } from 'ascend-sdk';

const admin = new AscendClient({ agentId: 'ops-admin', logLevel: 'silent' });

// ---- README.md, verbatim ----
await admin.configureWebhook({ url: 'https://ops.example.com/ascend', events: ['action.denied', 'approval.requested'], secret: process.env.HOOK_SECRET });
// ---- end of the README's block ----

// What the server now has (the secret is never shown again).
const listed = await fetch(new URL('/v1/webhooks', process.env.ASCEND_API_URL), { headers: { authorization: `Bearer ${process.env.ASCEND_API_KEY}` } });
console.log(JSON.stringify(await listed.json()));
await admin.close();
