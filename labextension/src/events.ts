// The client side of GET /mofang/api/events: a server-sent-events parser and
// a connection that reconnects by itself. It reads the stream with fetch (via
// ServerConnection, so the token and XSRF headers are the ones every other
// JupyterLab request carries) instead of EventSource, which cannot send them.
// Both pieces take their I/O as arguments so they can be tested without a
// server or real timers.
//
// The stream carries job events and sweep events. Each kind is numbered by
// its own store, so the stream's position is a cursor of both numbers,
// "<job seq>:<sweep seq>", sent as each event's id and sent back to resume.

export interface ServerSentEvent {
  id: string | null;
  event: string;
  data: string;
}

/**
 * Incremental parser of `text/event-stream` (the WHATWG rules that matter
 * here): fields per line, a blank line dispatches, `:` lines are comments.
 * Chunks may split lines and events anywhere.
 */
export class SseParser {
  /** Feed decoded text; returns the events it completed. */
  push(chunk: string): ServerSentEvent[] {
    this._buffer += chunk;
    const events: ServerSentEvent[] = [];
    // A line ends with \n, \r\n or \r; a trailing \r may be the start of \r\n.
    const lines = this._buffer.split(/\r\n|\n|\r(?!$)/);
    this._buffer = lines.pop() ?? '';
    for (const line of lines) {
      const event = this._line(line);
      if (event) {
        events.push(event);
      }
    }
    return events;
  }

  private _line(line: string): ServerSentEvent | null {
    if (line === '') {
      if (this._data.length === 0) {
        this._event = '';
        return null;
      }
      const event = {
        id: this._id,
        event: this._event || 'message',
        data: this._data.join('\n')
      };
      this._data = [];
      this._event = '';
      return event;
    }
    if (line.startsWith(':')) {
      return null;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'data') {
      this._data.push(value);
    } else if (field === 'event') {
      this._event = value;
    } else if (field === 'id' && !value.includes('\0')) {
      this._id = value;
    }
    return null;
  }

  private _buffer = '';
  private _data: string[] = [];
  private _event = '';
  private _id: string | null = null;
}

/**
 * Delay before reconnect attempt `attempt` (0 = first retry): exponential
 * from `base` up to `max`, with up to 20% jitter so many clients do not all
 * come back at the same instant after a server restart.
 */
export function backoffDelay(
  attempt: number,
  base = 1000,
  max = 30000,
  random: () => number = Math.random
): number {
  const delay = Math.min(max, base * 2 ** Math.max(0, attempt));
  return Math.round(delay * (1 - 0.2 * random()));
}

export type ConnectionState = 'connecting' | 'open' | 'lost' | 'stopped';

/** A position in the stream: the last job event and the last sweep event seen. */
export interface Cursor {
  jobs: number;
  sweeps: number;
}

/** "12:5" → {jobs: 12, sweeps: 5}; a plain "12" is {jobs: 12, sweeps: 0}. */
export function parseCursor(text: string | null): Cursor | null {
  const match = /^(\d+)(?::(\d+))?$/.exec((text ?? '').trim());
  if (!match) {
    return null;
  }
  return { jobs: Number(match[1]), sweeps: Number(match[2] ?? 0) };
}

export function formatCursor(cursor: Cursor): string {
  return `${cursor.jobs}:${cursor.sweeps}`;
}

/** Whether `next` is past `last` (either number grew): an event not seen yet. */
export function isAfter(next: Cursor, last: Cursor): boolean {
  return next.jobs > last.jobs || next.sweeps > last.sweeps;
}

/** Both positions, each the further one. */
export function furthest(a: Cursor, b: Cursor): Cursor {
  return {
    jobs: Math.max(a.jobs, b.jobs),
    sweeps: Math.max(a.sweeps, b.sweeps)
  };
}

export interface EventStreamOptions {
  /** Opens the stream after the cursor `since`; resolves with the body reader. */
  open: (
    since: string,
    signal: AbortSignal
  ) => Promise<ReadableStreamDefaultReader<Uint8Array>>;
  /** One parsed event, not seen before. */
  onEvent: (event: ServerSentEvent) => void;
  onState?: (state: ConnectionState, error?: unknown) => void;
  /** Injected for tests. */
  setTimer?: (callback: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  delay?: (attempt: number) => number;
}

/**
 * One long-lived connection to the event stream. When the stream ends or
 * fails it reconnects after a backoff delay, resuming after the last cursor
 * it saw, so no event is lost or delivered twice.
 */
export class ReconnectingEventStream {
  constructor(options: EventStreamOptions) {
    this._options = options;
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** The position after the last event received ("0:0": none yet). */
  get cursor(): string {
    return formatCursor(this._last);
  }

  /** Connect, resuming after `since` (a cursor such as the lists' positions). */
  start(since = '0:0'): void {
    if (this._running) {
      return;
    }
    this._last = furthest(this._last, parseCursor(since) ?? this._last);
    this._running = true;
    void this._connect();
  }

  stop(): void {
    this._running = false;
    this._abort?.abort();
    this._abort = null;
    if (this._timer !== null) {
      (this._options.clearTimer ?? clearTimeout)(this._timer as number);
      this._timer = null;
    }
    this._setState('stopped');
  }

  /** Reconnect now instead of waiting for the backoff (the user asked). */
  retryNow(): void {
    if (!this._running || this._state === 'open') {
      return;
    }
    if (this._timer !== null) {
      (this._options.clearTimer ?? clearTimeout)(this._timer as number);
      this._timer = null;
    }
    this._attempt = 0;
    void this._connect();
  }

  private async _connect(): Promise<void> {
    const abort = new AbortController();
    this._abort = abort;
    this._setState('connecting');
    let failure: unknown = null;
    try {
      const reader = await this._options.open(this.cursor, abort.signal);
      this._setState('open');
      const decoder = new TextDecoder();
      const parser = new SseParser();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          break;
        }
        // Data arrived: the connection is healthy again.
        this._attempt = 0;
        for (const event of parser.push(
          decoder.decode(value, { stream: true })
        )) {
          const cursor = parseCursor(event.id);
          if (cursor && !isAfter(cursor, this._last)) {
            continue; // already seen
          }
          if (cursor) {
            this._last = furthest(this._last, cursor);
          }
          this._options.onEvent(event);
        }
      }
    } catch (reason) {
      failure = reason;
    }
    if (!this._running || abort.signal.aborted) {
      return;
    }
    this._abort = null;
    this._setState('lost', failure ?? new Error('The event stream ended'));
    const delay = (this._options.delay ?? backoffDelay)(this._attempt++);
    this._timer = (this._options.setTimer ?? setTimeout)(() => {
      this._timer = null;
      if (this._running) {
        void this._connect();
      }
    }, delay);
  }

  private _setState(state: ConnectionState, error?: unknown): void {
    this._state = state;
    this._options.onState?.(state, error);
  }

  private _options: EventStreamOptions;
  private _state: ConnectionState = 'stopped';
  private _running = false;
  private _last: Cursor = { jobs: 0, sweeps: 0 };
  private _attempt = 0;
  private _abort: AbortController | null = null;
  private _timer: unknown = null;
}
