/**
 * The call digest: what binds an approval (and an idempotency key) to one exact call. Written
 * with the fast canonical writer (canonical-fast.ts), equal to the definition over
 * `canonicalJson` (canonical.ts): a test checks it.
 */
import { canonicalJson, sha256Hex } from './canonical.js';
import { canonicalJsonFast } from './canonical-fast.js';

/**
 * The digest that binds an approval to one exact call: sha256 of the canonical JSON of
 * `{ actionType, agentId, parameters, resource }`.
 */
export function callDigest(call: { agentId: string; actionType: string; resource: string; parameters: unknown }): string {
  const kind = typeof call.parameters;
  if (kind === 'undefined' || kind === 'function' || kind === 'symbol') {
    // canonicalJson drops such a member; let it spell that case.
    return sha256Hex(canonicalJson({ agentId: call.agentId, actionType: call.actionType, resource: call.resource }));
  }
  // Keys written in sorted order, values through the fast canonical writer: the same bytes as
  // canonicalJson of the object (a test checks it), at half the cost on the hot path.
  return sha256Hex(
    '{"actionType":' +
      canonicalJsonFast(call.actionType) +
      ',"agentId":' +
      canonicalJsonFast(call.agentId) +
      ',"parameters":' +
      canonicalJsonFast(call.parameters) +
      ',"resource":' +
      canonicalJsonFast(call.resource) +
      '}',
  );
}
