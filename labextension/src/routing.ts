// Which store an event of the stream is for: `event: job` carries a JobEvent,
// `event: sweep` a SweepEvent. Anything else (a newer server's kinds, a
// malformed body) is ignored rather than breaking the panel.
import type { ServerSentEvent } from './events';
import { JobEvent, parseJobEvent } from './jobs';
import { SweepEvent, parseSweepEvent } from './sweeps';

export type RoutedEvent =
  { kind: 'job'; event: JobEvent } | { kind: 'sweep'; event: SweepEvent };

export function routeEvent(sse: ServerSentEvent): RoutedEvent | null {
  if (sse.event === 'job') {
    const event = parseJobEvent(sse.data);
    return event ? { kind: 'job', event } : null;
  }
  if (sse.event === 'sweep') {
    const event = parseSweepEvent(sse.data);
    return event ? { kind: 'sweep', event } : null;
  }
  return null;
}
