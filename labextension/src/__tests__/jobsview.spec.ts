/**
 * @jest-environment jsdom
 */
import { Notification } from '@jupyterlab/apputils';

import type { JobRecord, JobsClient } from '../jobs';
import { JobsView } from '../jobsview';
import { makeJob } from './fixtures';

jest.mock('@jupyterlab/apputils', () => ({
  Notification: { success: jest.fn(), error: jest.fn(), info: jest.fn() }
}));

/** A stream body the test writes server-sent events into. */
function eventBody(): {
  body: { getReader: () => ReadableStreamDefaultReader<Uint8Array> };
  send: (text: string) => void;
} {
  const queue: Uint8Array[] = [];
  let wake: (() => void) | null = null;
  const encoder = new TextEncoder();
  return {
    body: {
      getReader: () =>
        ({
          read: async () => {
            while (queue.length === 0) {
              await new Promise<void>(resolve => (wake = resolve));
            }
            return { done: false, value: queue.shift() };
          }
        }) as unknown as ReadableStreamDefaultReader<Uint8Array>
    },
    send: (text: string) => {
      queue.push(encoder.encode(text));
      wake?.();
    }
  };
}

const settle = (): Promise<void> => new Promise(r => setTimeout(r, 0));

function fakeClient(jobs: JobRecord[]) {
  const stream = eventBody();
  const records = new Map(jobs.map(job => [job.id, job]));
  const client = {
    load: jest.fn(() => Promise.resolve({ jobs, eventSeq: 0 })),
    get: jest.fn((id: string) => Promise.resolve(records.get(id)!)),
    eventsUrl: (since: string) => `/events?since=${since}`,
    logsUrl: () => '/logs',
    request: jest.fn((url: string) =>
      url.startsWith('/events')
        ? Promise.resolve({ body: stream.body } as unknown as Response)
        : new Promise<Response>(() => undefined)
    )
  };
  return { client, stream, records };
}

let view: JobsView | null = null;

afterEach(() => {
  view?.dispose();
  view = null;
});

describe('JobsView', () => {
  it('lists jobs as labelled buttons, newest first, and follows events', async () => {
    const older = makeJob({
      id: 'old-1',
      name: 'old',
      state: 'Succeeded',
      created_at: '2026-01-01T09:00:00Z'
    });
    const running = makeJob();
    const { client, stream, records } = fakeClient([older, running]);
    view = new JobsView({ client: client as unknown as JobsClient });
    document.body.appendChild(view.node);
    await view.start();
    await settle();

    const rows = Array.from(
      view.node.querySelectorAll<HTMLButtonElement>('button.jp-MofangJobs-item')
    );
    expect(rows.map(row => row.dataset.jobId)).toEqual([
      'train-abc123',
      'old-1'
    ]);
    expect(rows[0].getAttribute('aria-label')).toBe(
      'train, pytorch, Running. Show details'
    );
    expect(rows[0].querySelector('.jp-MofangState')?.className).toBe(
      'jp-MofangState jp-mod-running'
    );
    expect(client.request).toHaveBeenCalledWith(
      '/events?since=0:0',
      expect.objectContaining({ method: 'GET' })
    );
    expect(
      view.node.querySelector('.jp-MofangJobs-connection')?.textContent
    ).toBe('Live');

    // The replayed history changes nothing; the final state notifies once.
    records.set(running.id, { ...running, state: 'Succeeded' });
    rows[0].focus();
    stream.send(
      'id: 1\nevent: job\ndata: {"seq": 1, "job_id": "old-1", "state": "Running", "time": "2026-01-01T09:00:01Z"}\n\n' +
        'id: 2\nevent: job\ndata: {"seq": 2, "job_id": "train-abc123", "state": "Succeeded", "time": "2026-01-01T10:01:00Z"}\n\n'
    );
    await settle();
    await settle();
    const badges = Array.from(
      view.node.querySelectorAll('button.jp-MofangJobs-item .jp-MofangState')
    ).map(node => node.textContent);
    expect(badges).toEqual(['Succeeded', 'Succeeded']);
    expect(Notification.success).toHaveBeenCalledTimes(1);
    expect(Notification.success).toHaveBeenCalledWith(
      'Job train (train-abc123): Succeeded',
      expect.objectContaining({
        actions: [expect.objectContaining({ label: 'Show job' })]
      })
    );
    // Keyboard focus stays on the job it was on.
    expect((document.activeElement as HTMLElement).dataset.jobId).toBe(
      'train-abc123'
    );
  });
});
