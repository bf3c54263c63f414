/**
 * The public methods' inputs as zod schemas, checked at the client's edge (one ValidationError
 * naming the field), and the text rules every name and label obeys: storable exactly by both
 * stores, and shown to approvers without control characters.
 */
import * as z from './zod.js';
import { MAX_ARGUMENT_EDITS } from './argument-edits.js';
import { compiledObject } from './compiled-object.js';
import { APPROVAL_CHANNELS, type ApprovalChannel } from './types.js';

const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why `text` cannot be stored exactly as given, or undefined when it can. PostgreSQL's `text`
 * holds no NUL character, and UTF-8 has no encoding for an unpaired surrogate (drivers write
 * U+FFFD instead, so the stored value would differ from the one decided on).
 */
export function unstorableTextReason(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain a NUL character (U+0000)';
  if (UNPAIRED_SURROGATE.test(text)) return 'must not contain an unpaired UTF-16 surrogate';
  return undefined;
}

/** C0 and C1 control characters and DEL: line breaks, escape codes, … */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A name shown to the people who approve (an agent id, an action type, a resource): storable,
 * and without control characters — a line break or a terminal escape code in it could make a
 * call look like another one in `ascend approvals`, the terminal approver or a log line.
 */
export function displayedName(...checks: Array<z.core.CheckFn<string> | z.core.$ZodCheck<string>>): z.ZodMiniString<string> {
  return storableText(
    z.superRefine((text: string, ctx) => {
      if (CONTROL_CHARACTER.test(text)) {
        ctx.addIssue({ code: 'custom', message: 'must not contain control characters (line breaks, tabs, escape codes): they could disguise the call to the person approving it' });
      }
    }),
    ...checks,
  );
}

/** A zod string that every store keeps exactly (see {@link unstorableTextReason}), then `checks`. */
export function storableText(...checks: Array<z.core.CheckFn<string> | z.core.$ZodCheck<string>>): z.ZodMiniString<string> {
  return z.string().check(
    z.superRefine((text: string, ctx) => {
      const reason = unstorableTextReason(text);
      if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason });
    }),
    ...checks,
  );
}

/** Tool arguments (and context, metadata): a plain object, copied and checked by `toCallArguments` (src/core/arguments.ts). */
const argumentsObject = z.custom<Record<string, unknown>>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  'parameters must be an object',
);

/** Input of {@link AscendClient.evaluateAction}. */
export const EvaluateActionInputSchema = compiledObject({
  actionType: displayedName(z.minLength(1, 'actionType must not be empty'), z.maxLength(256)),
  resource: z._default(displayedName(z.maxLength(2048)), ''),
  parameters: z._default(argumentsObject, {}),
  context: z._default(argumentsObject, {}),
  waitForApproval: z.optional(z.boolean()),
  approvalTimeoutMs: z.optional(z.int().check(z.positive(), z.lte(7 * 24 * 3600 * 1000))),
  requireHumanApproval: z._default(z.boolean(), false),
  /** Extra parameter paths to redact for this call (added to the client's `redact`). */
  redact: z.optional(z.array(z.string().check(z.minLength(1)))),
  /**
   * An id for this decision, so asking again for the same call (a retry, a run resumed in another
   * process) answers the decision already recorded instead of making a new one.
   */
  actionId: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_-]{16,128}$/, 'actionId must be 16–128 characters of A–Z, a–z, 0–9, "_" or "-"'))),
});
/** What `evaluateAction` accepts. */
export type EvaluateActionInput = z.input<typeof EvaluateActionInputSchema>;

/** Input of {@link AscendClient.register}. */
export const RegisterAgentInputSchema = z.object({
  agentType: z._default(storableText(z.minLength(1), z.maxLength(128)), 'generic'),
  capabilities: z._default(z.array(storableText(z.minLength(1), z.maxLength(256))), []),
  allowedResources: z._default(z.array(storableText(z.minLength(1), z.maxLength(2048))), []),
  metadata: z._default(argumentsObject, {}),
});
/** What `register` accepts. */
export type RegisterAgentInput = z.input<typeof RegisterAgentInputSchema>;

/** Input of `logActionCompleted`. */
export const ActionCompletedInputSchema = compiledObject({
  actionId: z.string().check(z.minLength(1)),
  result: z.optional(z.unknown()),
  durationMs: z._default(z.number().check(z.nonnegative()), 0),
});
/** What `logActionCompleted` accepts. */
export type ActionCompletedInput = z.input<typeof ActionCompletedInputSchema>;

/** Input of `logActionFailed`. */
export const ActionFailedInputSchema = compiledObject({
  actionId: z.string().check(z.minLength(1)),
  error: z.union([z.string(), z.instanceof(Error)]),
  durationMs: z._default(z.number().check(z.nonnegative()), 0),
});
/** What `logActionFailed` accepts. */
export type ActionFailedInput = z.input<typeof ActionFailedInputSchema>;

/**
 * An approver's changes to a call's arguments (edit and approve): each a `path` of keys and
 * array indexes and a new `value`, or `remove: true`.
 */
export const ArgumentEditsSchema = z
  .array(
    z
      .strictObject({
        path: z.array(z.string().check(z.minLength(1), z.maxLength(256))).check(z.minLength(1, 'path names at least one argument'), z.maxLength(32)),
        value: z.optional(z.unknown()),
        remove: z.optional(z.literal(true)),
      })
      .check(z.refine((edit) => (edit.value === undefined) !== (edit.remove === undefined), { message: 'give either value (the new value) or remove: true', path: ['value'] })),
  )
  .check(z.minLength(1, 'edits needs at least one change (approve without edits instead)'), z.maxLength(MAX_ARGUMENT_EDITS));

/** The approval channels other than `excluded` (those a caller may not claim). */
export function approvalChannelsExcept<E extends ApprovalChannel>(...excluded: E[]): Array<Exclude<ApprovalChannel, E>> {
  return APPROVAL_CHANNELS.filter((channel): channel is Exclude<ApprovalChannel, E> => !(excluded as ApprovalChannel[]).includes(channel));
}

/** Input of approving or rejecting an approval request in process (the client's `approve` / `reject`). */
export const ApprovalDecisionInputSchema = z.object({
  approvalId: z.string().check(z.minLength(1)),
  decidedBy: storableText(z.minLength(1), z.maxLength(256)),
  // `slack` is the server's own to record (a signed button press).
  channel: z.enum(approvalChannelsExcept('slack')),
  comment: z.optional(storableText(z.maxLength(4096))),
  /** Approve and also grant this agent + action type for this many minutes. */
  grantMinutes: z.optional(z.int().check(z.positive(), z.lte(7 * 24 * 60))),
  /** Approve with these changes to the arguments: the call runs with them, decided by the policy again. */
  edits: z.optional(ArgumentEditsSchema),
});
/** What approving or rejecting accepts. */
export type ApprovalDecisionInput = z.input<typeof ApprovalDecisionInputSchema>;
