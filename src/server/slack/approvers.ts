/**
 * Who may decide from a Slack message: Slack user ids (`U…`, `W…`) named by the operator, and the
 * members of Slack user groups (`S…`), read from Slack's Web API (`usergroups.users.list`, with
 * the app's bot token and its `usergroups:read` scope) and kept for a minute. When a group cannot
 * be read, its members are not known to be approvers: nothing is decided (fail closed).
 */

/** The Slack app's approvers, as configured. */
export interface SlackApproverOptions {
  /** User ids (`U…`, `W…`) and user group ids (`S…`). */
  approvers: readonly string[];
  /** The bot token (`xoxb-…`) that reads user groups; needed when a group is named. */
  botToken?: string;
  /** Slack's Web API base. Default `https://slack.com/api`. */
  apiUrl?: string;
  /** How long a group's members are kept. Default 60 s. */
  membershipTtlMs?: number;
}

/** Whether a Slack user may decide: yes, no, or not known (a group could not be read). */
export type SlackApproverAnswer = 'approver' | 'not-approver' | 'unknown';

/** A user group id. */
export const SLACK_GROUP_ID = /^S[A-Z0-9]{2,20}$/;
/** A user id. */
export const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/;

const DEFAULT_API_URL = 'https://slack.com/api';
const LOOKUP_TIMEOUT_MS = 5000;

/** The approvers of a server's Slack app. */
export class SlackApprovers {
  private readonly users: ReadonlySet<string>;
  private readonly groups: readonly string[];
  private readonly members = new Map<string, { users: ReadonlySet<string>; readAtMs: number }>();

  constructor(private readonly options: SlackApproverOptions) {
    this.users = new Set(options.approvers.filter((id) => SLACK_USER_ID.test(id)));
    this.groups = options.approvers.filter((id) => SLACK_GROUP_ID.test(id));
  }

  /** Whether `userId` is a named approver or a member of a named group. */
  async check(userId: string): Promise<SlackApproverAnswer> {
    if (this.users.has(userId)) return 'approver';
    let unknown = false;
    for (const group of this.groups) {
      const members = await this.membersOf(group);
      if (members === undefined) unknown = true;
      else if (members.has(userId)) return 'approver';
    }
    return unknown ? 'unknown' : 'not-approver';
  }

  /** A group's members, read again once older than the TTL; undefined when Slack cannot say. */
  private async membersOf(group: string): Promise<ReadonlySet<string> | undefined> {
    const known = this.members.get(group);
    if (known && Date.now() - known.readAtMs < (this.options.membershipTtlMs ?? 60_000)) return known.users;
    if (this.options.botToken === undefined) return undefined;
    try {
      const url = `${this.options.apiUrl ?? DEFAULT_API_URL}/usergroups.users.list?usergroup=${encodeURIComponent(group)}`;
      const response = await fetch(url, { headers: { authorization: `Bearer ${this.options.botToken}` }, signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS) });
      const body = (await response.json()) as { ok?: unknown; users?: unknown };
      if (!response.ok || body.ok !== true || !Array.isArray(body.users)) return undefined;
      const users = new Set(body.users.filter((u): u is string => typeof u === 'string'));
      this.members.set(group, { users, readAtMs: Date.now() });
      return users;
    } catch {
      return undefined;
    }
  }
}
