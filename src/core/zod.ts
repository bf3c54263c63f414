/**
 * zod's functional API (`zod/mini`) as the client path uses it: with English messages. zod's
 * classic API installs its English messages when it builds its first schema; `zod/mini` installs
 * none, so a process that never loads the classic API (an embedded client) would report every
 * issue as "Invalid input". Installed the same way: only when no locale is set, so an
 * application's own `z.config(...)` locale wins (zod keeps one configuration per process).
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

if (z.config().localeError === undefined) z.config(en());

export * from 'zod/mini';
