// Live audit events over server-sent events. EventSource reconnects by itself (resuming with
// Last-Event-ID) after a network error; after a refused connection (e.g. 401) it gives up, so
// then we reopen it ourselves from the last seq we saw.

import { AUDIT_TYPES } from './api.js';

/**
 * Follow `/v1/events`. Handlers: `onEvent(auditEvent)`, `onStatus('live' | 'reconnecting')`,
 * `onClosed()` (the server refused the stream: worth checking the session), `onAuthLost(message)`.
 */
export function connectLive({ onEvent, onStatus, onClosed, onAuthLost }) {
  let source = null;
  let retryTimer = 0;
  let retryMs = 2000;
  let lastSeq = 0;

  const receive = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (Number.isInteger(event?.seq)) lastSeq = Math.max(lastSeq, event.seq);
    onEvent(event);
  };

  // The server's own `error` event (a MessageEvent with data), not a connection error.
  const serverError = (message) => {
    if (typeof message.data !== 'string') return;
    let info = {};
    try {
      info = JSON.parse(message.data);
    } catch {
      // not JSON: not the session ending
    }
    if (info?.code === 'authentication_error') {
      stop();
      onAuthLost(info.message);
    }
  };

  const open = () => {
    source = new EventSource(lastSeq > 0 ? `/v1/events?afterSeq=${lastSeq}` : '/v1/events');
    // Live from the server's `ready` (its cursor is fixed), not from the socket opening.
    source.addEventListener('ready', () => {
      retryMs = 2000;
      onStatus('live');
    });
    source.onerror = () => {
      onStatus('reconnecting');
      if (source?.readyState !== EventSource.CLOSED) return;
      source = null;
      retryTimer = setTimeout(open, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
      onClosed();
    };
    source.addEventListener('error', serverError);
    for (const type of AUDIT_TYPES) source.addEventListener(type, receive);
  };

  function stop() {
    clearTimeout(retryTimer);
    source?.close();
    source = null;
  }

  open();
  return { stop };
}
