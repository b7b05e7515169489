import {
  ConnectionState,
  ReconnectingEventStream,
  ServerSentEvent,
  SseParser,
  backoffDelay,
  formatCursor,
  furthest,
  isAfter,
  parseCursor
} from '../events';

describe('SseParser', () => {
  it('parses id, event and data and skips comments', () => {
    const parser = new SseParser();
    const events = parser.push(
      ': mofang job events\n\nid: 3\nevent: job\ndata: {"seq": 3}\n\n: keepalive\n\n'
    );
    expect(events).toEqual([{ id: '3', event: 'job', data: '{"seq": 3}' }]);
  });

  it('joins events split across chunks anywhere, CRLF included', () => {
    const parser = new SseParser();
    const text =
      'id: 1\r\nevent: job\r\ndata: a\r\n\r\nid: 2\ndata: b\ndata: c\n\n';
    const events: ServerSentEvent[] = [];
    for (const char of text) {
      events.push(...parser.push(char));
    }
    expect(events).toEqual([
      { id: '1', event: 'job', data: 'a' },
      { id: '2', event: 'message', data: 'b\nc' }
    ]);
  });

  it('does not dispatch an event before its blank line', () => {
    const parser = new SseParser();
    expect(parser.push('id: 1\nevent: job\ndata: x\n')).toEqual([]);
    expect(parser.push('\n')).toHaveLength(1);
  });
});

describe('backoffDelay', () => {
  it('doubles from the base up to the maximum', () => {
    const none = (): number => 0;
    expect(
      [0, 1, 2, 3, 10].map(a => backoffDelay(a, 1000, 30000, none))
    ).toEqual([1000, 2000, 4000, 8000, 30000]);
  });

  it('takes off at most 20% as jitter', () => {
    expect(backoffDelay(0, 1000, 30000, () => 1)).toBe(800);
    expect(backoffDelay(0, 1000, 30000, () => 0.5)).toBe(900);
  });
});

/** A reader that yields the given chunks, then ends or fails. */
function reader(
  chunks: string[],
  end: 'done' | Error | 'hang' = 'done'
): ReadableStreamDefaultReader<Uint8Array> {
  const encoder = new TextEncoder();
  const queue = [...chunks];
  return {
    read: () => {
      const next = queue.shift();
      if (next !== undefined) {
        return Promise.resolve({ done: false, value: encoder.encode(next) });
      }
      if (end === 'hang') {
        return new Promise(() => undefined);
      }
      return end === 'done'
        ? Promise.resolve({ done: true, value: undefined })
        : Promise.reject(end);
    }
  } as ReadableStreamDefaultReader<Uint8Array>;
}

/** A job event at job seq `seq` (the sweep part of the cursor stays `sweeps`). */
const event = (seq: number, sweeps = 0): string =>
  `id: ${seq}:${sweeps}\nevent: job\ndata: {"seq": ${seq}}\n\n`;

const sweepEvent = (jobs: number, seq: number): string =>
  `id: ${jobs}:${seq}\nevent: sweep\ndata: {"seq": ${seq}}\n\n`;

const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) {
    await Promise.resolve();
  }
};

describe('ReconnectingEventStream', () => {
  function harness(
    replies: Array<() => Promise<ReadableStreamDefaultReader<Uint8Array>>>
  ) {
    const opened: string[] = [];
    const seqs: string[] = [];
    const states: ConnectionState[] = [];
    const timers: Array<{ ms: number; run: () => void }> = [];
    const delays: number[] = [];
    const stream = new ReconnectingEventStream({
      open: since => {
        opened.push(since);
        const reply = replies.shift();
        return reply ? reply() : new Promise(() => undefined);
      },
      onEvent: sse => seqs.push(sse.id ?? ''),
      onState: state => states.push(state),
      setTimer: (run, ms) => {
        timers.push({ ms, run });
        return timers.length;
      },
      clearTimer: () => undefined,
      delay: attempt => {
        delays.push(attempt);
        return 1000 * 2 ** attempt;
      }
    });
    return { stream, opened, seqs, states, timers, delays };
  }

  it('resumes after the last seq when the stream ends', async () => {
    const h = harness([
      () => Promise.resolve(reader([event(1), event(2)])),
      () => Promise.resolve(reader([event(3)], 'hang'))
    ]);
    h.stream.start();
    await settle();
    expect(h.seqs).toEqual(['1:0', '2:0']);
    expect(h.states).toEqual(['connecting', 'open', 'lost']);
    expect(h.timers).toHaveLength(1);
    h.timers[0].run();
    await settle();
    expect(h.opened).toEqual(['0:0', '2:0']);
    expect(h.seqs).toEqual(['1:0', '2:0', '3:0']);
    expect(h.stream.state).toBe('open');
  });

  it('backs off longer after each failed attempt and resets on data', async () => {
    const refused = (): Promise<never> =>
      Promise.reject(new Error('502 Bad Gateway'));
    const h = harness([
      refused,
      refused,
      () => Promise.resolve(reader([event(5)])),
      refused
    ]);
    h.stream.start('4:7');
    await settle();
    h.timers[0].run();
    await settle();
    h.timers[1].run();
    await settle();
    h.timers[2].run();
    await settle();
    expect(h.timers.map(t => t.ms)).toEqual([1000, 2000, 1000, 2000]);
    expect(h.opened).toEqual(['4:7', '4:7', '4:7', '5:7']);
  });

  it('drops events it has already seen', async () => {
    const h = harness([
      () =>
        Promise.resolve(
          reader(
            [
              event(1),
              event(1),
              sweepEvent(1, 1),
              sweepEvent(1, 1),
              event(2, 1)
            ],
            'hang'
          )
        )
    ]);
    h.stream.start();
    await settle();
    expect(h.seqs).toEqual(['1:0', '1:1', '2:1']);
  });

  it('stops for good and can reconnect on demand', async () => {
    const h = harness([
      () => Promise.reject(new Error('down')),
      () => Promise.resolve(reader([], 'hang'))
    ]);
    h.stream.start();
    await settle();
    expect(h.stream.state).toBe('lost');
    h.stream.retryNow();
    await settle();
    expect(h.stream.state).toBe('open');
    h.stream.stop();
    expect(h.stream.state).toBe('stopped');
    expect(h.opened).toEqual(['0:0', '0:0']);
  });
});

describe('cursors', () => {
  it('read both numbers, or a plain job number', () => {
    expect(parseCursor('12:5')).toEqual({ jobs: 12, sweeps: 5 });
    expect(parseCursor('12')).toEqual({ jobs: 12, sweeps: 0 });
    expect(parseCursor(null)).toBeNull();
    expect(parseCursor('1:2:3')).toBeNull();
    expect(parseCursor('x')).toBeNull();
    expect(formatCursor({ jobs: 3, sweeps: 4 })).toBe('3:4');
  });

  it('are after another when either number grew', () => {
    const at = { jobs: 5, sweeps: 5 };
    expect(isAfter({ jobs: 6, sweeps: 5 }, at)).toBe(true);
    expect(isAfter({ jobs: 5, sweeps: 6 }, at)).toBe(true);
    expect(isAfter({ jobs: 5, sweeps: 5 }, at)).toBe(false);
    expect(isAfter({ jobs: 4, sweeps: 5 }, at)).toBe(false);
    expect(furthest({ jobs: 7, sweeps: 1 }, at)).toEqual({
      jobs: 7,
      sweeps: 5
    });
  });

  it('resume the stream after the lists it was started from', async () => {
    const opened: string[] = [];
    const stream = new ReconnectingEventStream({
      open: since => {
        opened.push(since);
        return new Promise(() => undefined);
      },
      onEvent: () => undefined
    });
    stream.start('40:9');
    await settle();
    expect(opened).toEqual(['40:9']);
    expect(stream.cursor).toBe('40:9');
    stream.stop();
  });
});
