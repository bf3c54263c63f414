/**
 * Closing a connection whose request body was refused (413) without resetting it. The client is
 * usually still sending the body when the answer goes out; closing the socket then makes the
 * kernel answer the bytes still arriving with a reset, and a reset can destroy the 413 before
 * the client reads it — the client then sees "connection reset", which reads as "server
 * unreachable" and could count against the circuit breaker or turn fail-open on. So the server
 * sends its FIN, keeps reading (and dropping) what the client still sends, and destroys the
 * socket only when the client is done or after {@link LINGER_MS}.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** Longest a refused connection is kept open to drain what its client is still sending. */
export const LINGER_MS = 2000;

/** Make the close that follows this request's answer a lingering one. */
export function lingerOnClose(request: IncomingMessage): void {
  const socket = request.socket as Socket & { destroySoon?: () => void };
  request.resume(); // take (and drop) the rest of the body as it arrives
  // Node's HTTP server closes a connection it will not keep alive with destroySoon() once the
  // answer is written; make that a half-close that waits for the client.
  socket.destroySoon = function lingering(this: Socket): void {
    this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
    this.resume();
  };
}
