/**
 * A webhook's message format is kept by both stores: made with `slack` (interactive or not) or
 * `teams`, read back the same; made without one (as before formats existed), `json`.
 */
import { describe, expect, it } from 'vitest';
import { useTamperBackends } from '../adversarial/tamper-targets.js';

const { backends } = useTamperBackends();

describe.each(backends)('webhook formats ($name)', (backend) => {
  it('keeps slack and teams, and reads an older webhook as json', async () => {
    const target = await backend.open(false, async () => undefined);
    const outbox = target.outbox();
    const base = { org: 'default', events: ['approval.requested' as const], secret: 's'.repeat(16), createdAt: new Date().toISOString(), createdBy: 'test' };
    await outbox.createWebhook({ ...base, webhookId: 'wh-slack', url: 'https://hooks.example/slack', format: 'slack', slackInteractive: true });
    await outbox.createWebhook({ ...base, webhookId: 'wh-teams', url: 'https://hooks.example/teams', format: 'teams' });
    await outbox.createWebhook({ ...base, webhookId: 'wh-json', url: 'https://hooks.example/json' });
    expect(await outbox.getWebhook('wh-slack')).toMatchObject({ format: 'slack', slackInteractive: true });
    expect((await outbox.getWebhook('wh-teams'))?.slackInteractive).toBeUndefined();
    expect((await outbox.getWebhook('wh-teams'))?.format).toBe('teams');
    expect((await outbox.getWebhook('wh-json'))?.format).toBeUndefined();
    expect((await outbox.listWebhooks('default')).map((w) => w.format ?? 'json').sort()).toEqual(['json', 'slack', 'teams']);
  });
});
