/**
 * The chat messages themselves (src/server/webhooks/chat-messages.ts): within what Slack and
 * Teams accept however large the call, plain text whatever the call carries, and the README's
 * rendered example is what is sent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { escapeHtml } from '../../src/server/dashboard/link-page.js';
import { emailMessage, escapeSlack, slackMessage, teamsMessage, type ChatEvent } from '../../src/server/webhooks/chat-messages.js';
import { README_SAMPLE_EVENT } from '../fixtures/chat-sample.js';
import { slackProblem, teamsProblem, textsIn, urlsIn } from '../fixtures/chat-stand-ins.js';
import { ROOT } from '../helpers.js';

describe('chat messages', () => {
  it('the README shows the Slack message that is sent for its sample request', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('┃ Approval needed');
    const shown = readme.slice(start, readme.indexOf('```', start));
    const message = slackMessage(README_SAMPLE_EVENT) as { blocks: Array<Record<string, any>> };
    const texts: string[] = [];
    for (const block of message.blocks) {
      if (block.type === 'header') texts.push(block.text.text);
      if (block.type === 'section' && block.fields) texts.push(...block.fields.map((f: { text: string }) => f.text));
      if (block.type === 'context') texts.push(...block.elements.map((e: { text: string }) => e.text));
      if (block.type === 'actions') texts.push(...block.elements.map((e: { text: { text: string } }) => `[ ${e.text.text} ]`));
    }
    for (const text of texts) expect(shown).toContain(text);
    const argumentsLine = shown.split('\n').find((line) => line.startsWith('┃ {'))!;
    expect(JSON.parse(argumentsLine.slice(2))).toEqual(README_SAMPLE_EVENT.data.parameters);
  });

  it('the README shows the Teams card and the email that are sent for its sample request', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const teamsStart = readme.indexOf('▌ Approval needed');
    const teamsShown = readme.slice(teamsStart, readme.indexOf('```', teamsStart));
    const card = (teamsMessage(README_SAMPLE_EVENT) as { attachments: Array<{ content: { body: Array<Record<string, any>>; actions: Array<{ title: string }> } }> }).attachments[0]!.content;
    for (const block of card.body) {
      const text: string = block.type === 'RichTextBlock' ? block.inlines.map((i: { text: string }) => i.text).join('') : block.text;
      if (text.startsWith('{')) expect(JSON.parse(teamsShown.split('\n').find((l) => l.startsWith('▌ {'))!.slice(2))).toEqual(JSON.parse(text));
      else expect(teamsShown).toContain(`▌ ${text}\n`);
    }
    expect(teamsShown).toContain(card.actions.map((a) => `[ ${a.title} ]`).join('  '));

    const mail = emailMessage(README_SAMPLE_EVENT);
    const mailStart = readme.indexOf('Subject: Approval needed');
    const mailShown = readme.slice(mailStart, readme.indexOf('```', mailStart));
    expect(mailShown).toBe(`Subject: ${mail.subject}\n\n${mail.text}`);
  });

  it('stays within Slack’s and Teams’ limits for a huge call, cutting with a mark', () => {
    const huge: ChatEvent = {
      ...README_SAMPLE_EVENT,
      agentId: 'a'.repeat(5000),
      data: {
        ...README_SAMPLE_EVENT.data,
        resource: 'r'.repeat(10_000),
        parameters: { blob: 'x'.repeat(200_000), list: Array.from({ length: 5000 }, (_, i) => i) },
        riskFactors: Array.from({ length: 60 }, (_, i) => ({ name: `f${i}`, points: 1, detail: 'd'.repeat(300) })),
        reason: 'why '.repeat(3000),
      },
    };
    const slack = slackMessage(huge);
    expect(slackProblem(slack)).toBeUndefined();
    expect(teamsProblem(teamsMessage(huge))).toBeUndefined();
    expect(JSON.stringify(slack).length).toBeLessThan(20_000);
    expect(textsIn(slack)).toContain('…');
  });

  it('every event a webhook can take renders, with buttons only for a request with links', () => {
    const events: ChatEvent[] = [
      README_SAMPLE_EVENT,
      { ...README_SAMPLE_EVENT, links: undefined },
      { ...README_SAMPLE_EVENT, event: 'action.approved', data: { status: 'approved', decidedBy: 'carol', channel: 'slack', comment: 'fine' }, links: undefined },
      { ...README_SAMPLE_EVENT, event: 'action.denied', data: { status: 'rejected', decidedBy: 'dave', channel: 'link', comment: 'use EU' }, links: undefined },
      { ...README_SAMPLE_EVENT, event: 'action.denied', data: { expiresAt: '2026-12-05T09:35:00.000Z', reason: 'nobody answered' }, links: undefined },
      { ...README_SAMPLE_EVENT, event: 'action.evaluated', data: { decision: 'denied', actionType: 'db.drop', resource: 'prod', riskScore: 95, reason: 'no drops' }, links: undefined },
      { ...README_SAMPLE_EVENT, event: 'action.failed', data: { status: 'failed', error: 'timeout' }, links: undefined },
      { ...README_SAMPLE_EVENT, event: 'audit.checkpoint', agentId: null, data: { seq: 42, hash: 'abc', keyId: 'k1' }, links: undefined },
    ];
    const titles = events.map((e) => {
      const slack = slackMessage(e) as { blocks: Array<Record<string, any>> };
      expect(slackProblem(slack)).toBeUndefined();
      expect(teamsProblem(teamsMessage(e))).toBeUndefined();
      expect(urlsIn(slack)).toHaveLength(e.links ? 2 : 0);
      expect(urlsIn(teamsMessage(e))).toHaveLength(e.links ? 2 : 0);
      return slack.blocks[0]!.text.text as string;
    });
    expect(titles.slice(2)).toEqual(['Approved', 'Rejected', 'Expired: nobody decided in time', 'Decided: denied', 'Failed', 'Audit checkpoint signed']);
    expect(textsIn(slackMessage(events[3]!))).toContain('Comment: use EU');
  });

  it('escapes Slack’s control characters in the notification text', () => {
    expect(escapeSlack('<!channel> & <https://x|y>')).toBe('&lt;!channel&gt; &amp; &lt;https://x|y&gt;');
  });

  it('an email says the same in text and HTML, with the links as its only links and a one-line subject', () => {
    const mail = emailMessage({ ...README_SAMPLE_EVENT, agentId: 'bot\r\nBcc: x@example.net' });
    expect(mail.subject).toBe('Approval needed: an agent asks to run a tool call: payments.transfer by bot Bcc: x@example.net');
    expect(mail.text).toContain(`Approve: ${README_SAMPLE_EVENT.links!.approve}`);
    expect(mail.text).toContain('Risk: 80/100 (high)');
    expect([...mail.html.matchAll(/href="([^"]*)"/g)].map((m) => m[1])).toEqual([escapeHtml(README_SAMPLE_EVENT.links!.approve), escapeHtml(README_SAMPLE_EVENT.links!.reject)]);
    expect(escapeHtml(`<a href="x" onclick='y'>&`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;');
  });
});
