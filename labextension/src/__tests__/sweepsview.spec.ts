/**
 * @jest-environment jsdom
 */
import { Notification } from '@jupyterlab/apputils';

import type { JobRecord, JobsClient } from '../jobs';
import { JobsView } from '../jobsview';
import type { SweepRecord, SweepsClient } from '../sweeps';
import { makeJob, makeSweep, makeTrial } from './fixtures';

jest.mock('@jupyterlab/apputils', () => ({
  Notification: { success: jest.fn(), error: jest.fn(), info: jest.fn() }
}));

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) {
    await new Promise(r => setTimeout(r, 0));
  }
};

function eventStream(): {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  send: (kind: string, id: string, data: unknown) => void;
} {
  const queue: Uint8Array[] = [];
  let wake: (() => void) | null = null;
  return {
    reader: {
      read: async () => {
        while (queue.length === 0) {
          await new Promise<void>(resolve => (wake = resolve));
        }
        return { done: false, value: queue.shift() };
      }
    } as unknown as ReadableStreamDefaultReader<Uint8Array>,
    send: (kind, id, data) => {
      queue.push(
        new TextEncoder().encode(
          `id: ${id}\nevent: ${kind}\ndata: ${JSON.stringify(data)}\n\n`
        )
      );
      wake?.();
    }
  };
}

const TRIAL_JOB = ((): JobRecord => {
  const job = makeJob({
    id: 'digits-trial-0-aaaaaa',
    name: 'digits-trial-0',
    state: 'Running' // its end (below) is not told: its sweep's is
  });
  job.spec = { ...job.spec, idempotency_key: 'digits-k3x9qa-0' };
  return job;
})();

function harness(sweep: SweepRecord, detail: SweepRecord = sweep) {
  const stream = eventStream();
  const client = {
    load: jest.fn(() =>
      Promise.resolve({ jobs: [makeJob(), TRIAL_JOB], eventSeq: 41 })
    ),
    get: jest.fn((id: string) =>
      Promise.resolve(id === TRIAL_JOB.id ? TRIAL_JOB : makeJob())
    ),
    eventsUrl: (since: string) => `/events?since=${since}`,
    logsUrl: () => '/logs',
    request: jest.fn((url: string) =>
      url.startsWith('/events')
        ? Promise.resolve({
            body: { getReader: () => stream.reader }
          } as unknown as Response)
        : new Promise<Response>(() => undefined)
    )
  };
  const sweeps = {
    list: jest.fn(() => Promise.resolve({ sweeps: [sweep], eventSeq: 7 })),
    get: jest.fn(() => Promise.resolve(detail)),
    cancel: jest.fn(() => Promise.resolve({ ...detail, state: 'Cancelled' })),
    applyBest: jest.fn(() => {
      calls.push('apply');
      return Promise.resolve({
        notebook: 'digits.ipynb',
        trial: 1,
        objective: 0.95,
        parameters: { lr: 0.05 },
        previous: { lr: 0.01 }
      });
    })
  };
  const calls: string[] = [];
  const notebookChanged = jest.fn(() => {
    calls.push('reload');
    return Promise.resolve();
  });
  const saveNotebook = jest.fn(() => {
    calls.push('save');
    return Promise.resolve();
  });
  const editAndRerun = jest.fn(() => Promise.resolve(null));
  const view = new JobsView({
    client: client as unknown as JobsClient,
    sweeps: sweeps as unknown as SweepsClient,
    notebookChanged,
    saveNotebook,
    editAndRerun
  });
  document.body.appendChild(view.node);
  return { view, client, sweeps, stream, calls, editAndRerun };
}

const FINISHED = makeSweep({
  state: 'Succeeded',
  reason: 'MaxTrialsReached',
  counts: { Succeeded: 2, EarlyStopped: 1, Failed: 1 },
  best: { number: 1, parameters: { lr: 0.05 }, objective: 0.95 },
  trials: [
    makeTrial({ number: 0, objective: 0.9 }),
    makeTrial({ number: 1, parameters: { lr: 0.05 }, objective: 0.95 }),
    makeTrial({
      number: 2,
      state: 'EarlyStopped',
      objective: 0.6,
      message: 'Stopped early.'
    }),
    makeTrial({
      number: 3,
      state: 'Failed',
      objective: null,
      reports: {},
      message: 'Its job ended Failed: exit code 1'
    })
  ]
});

let current: JobsView | null = null;
afterEach(() => {
  current?.dispose();
  current = null;
  document.body.replaceChildren();
  jest.clearAllMocks();
});

describe('JobsView with sweeps', () => {
  it('lists sweeps with jobs, hides trials’ jobs, resumes from the lists', async () => {
    const h = harness(makeSweep({ counts: { Running: 1 } }));
    current = h.view;
    await h.view.start();
    await settle();
    expect(h.client.request).toHaveBeenCalledWith(
      '/events?since=41:7',
      expect.anything()
    );
    const rows = Array.from(
      h.view.node.querySelectorAll<HTMLElement>('.jp-MofangJobs-item')
    );
    // The sweep (11:00) is newer than the job (10:00); the trial's job is not a row.
    expect(rows.map(row => row.dataset.sweepId ?? row.dataset.jobId)).toEqual([
      'digits-k3x9qa',
      'train-abc123'
    ]);
    expect(rows[0].textContent).toContain('tpe · 0/4 trials');
    expect(rows[0].getAttribute('aria-label')).toBe(
      'Sweep digits, Running, tpe · 0/4 trials. Show details'
    );

    // A trial finishes, then the sweep: one notification, for the sweep.
    h.stream.send('job', '42:7', {
      seq: 42,
      job_id: TRIAL_JOB.id,
      state: 'Succeeded',
      time: 'T'
    });
    h.stream.send('sweep', '42:8', {
      seq: 8,
      sweep_id: 'digits-k3x9qa',
      state: 'Running',
      time: 'T',
      counts: { Succeeded: 1 },
      best: { number: 0, parameters: { lr: 0.01 }, objective: 0.9 },
      trial: makeTrial()
    });
    await settle();
    expect(h.view.node.querySelector('[data-sweep-id]')?.textContent).toContain(
      'tpe · 1/4 trials · best accuracy 0.9'
    );
    h.stream.send('sweep', '42:9', {
      seq: 9,
      sweep_id: 'digits-k3x9qa',
      state: 'Succeeded',
      reason: 'MaxTrialsReached',
      time: 'T',
      counts: { Succeeded: 4 },
      best: { number: 0, parameters: { lr: 0.01 }, objective: 0.9 },
      trial: null
    });
    await settle();
    expect(Notification.success).toHaveBeenCalledTimes(1);
    expect(Notification.success).toHaveBeenCalledWith(
      'Sweep digits (digits-k3x9qa): Succeeded · tpe · 4/4 trials · best accuracy 0.9',
      expect.objectContaining({
        actions: [expect.objectContaining({ label: 'Show sweep' })]
      })
    );
  });

  it('shows a sweep’s trials, chart and best, and applies the best values', async () => {
    const h = harness(FINISHED);
    current = h.view;
    await h.view.start();
    await settle();
    h.view.node.querySelector<HTMLElement>('[data-sweep-id]')?.click();
    await settle();
    const detail = h.view.node.querySelector<HTMLElement>(
      '.jp-MofangSweep-detail'
    );
    expect(detail?.dataset.sweepId).toBe('digits-k3x9qa');
    const rows = Array.from(
      detail!.querySelectorAll<HTMLElement>('tr.jp-MofangSweep-trial')
    );
    expect(rows.map(row => row.dataset.state)).toEqual([
      'Succeeded',
      'Succeeded',
      'EarlyStopped',
      'Failed'
    ]);
    expect(rows[1].classList.contains('jp-mod-best')).toBe(true);
    expect(rows[1].textContent).toContain('Succeeded (best)');
    expect(rows[2].classList.contains('jp-mod-earlyStopped')).toBe(true);
    expect(rows[2].textContent).toContain('Early stopped');
    const notes = Array.from(
      detail!.querySelectorAll('.jp-MofangSweep-trialMessage')
    ).map(row => row.textContent);
    expect(notes).toEqual([
      'Early stopped: Stopped early.',
      'Failed: Its job ended Failed: exit code 1'
    ]);
    expect(detail!.querySelectorAll('svg circle')).toHaveLength(3);
    expect(detail!.querySelector('.jp-MofangSweep-best')?.textContent).toBe(
      'trial 1: accuracy 0.95 (lr=0.05)'
    );
    // A finished sweep cannot be cancelled.
    expect(detail!.textContent).not.toContain('Cancel sweep');

    const apply = detail!.querySelector<HTMLButtonElement>(
      '.jp-MofangSweep-apply'
    )!;
    apply.focus();
    apply.click();
    await settle();
    expect(h.sweeps.applyBest).toHaveBeenCalledWith(
      'digits-k3x9qa',
      'digits.ipynb'
    );
    // An open copy is saved first and reloaded after: nothing typed is lost.
    expect(h.calls).toEqual(['save', 'apply', 'reload']);
    const report = h.view.node.querySelector('.jp-MofangSweep-applied');
    expect(report?.textContent).toBe(
      "Wrote trial 1's values into digits.ipynb:lr: 0.01 → 0.05"
    );
    expect(report?.closest('[role="status"]')).not.toBeNull();
    // Keyboard focus is back on the button after the detail re-rendered.
    expect((document.activeElement as HTMLElement).dataset.focusKey).toBe(
      'apply'
    );

    // A trial's number opens its job.
    h.view.node
      .querySelector<HTMLElement>('tr[data-trial="0"] button')
      ?.click();
    await settle();
    expect(h.view.selected).toBe('digits-trial-0-aaaaaa');
  });

  it('cancels a running sweep', async () => {
    const running = makeSweep({
      trials: [makeTrial({ state: 'Running', objective: null })]
    });
    const h = harness(running);
    current = h.view;
    await h.view.start();
    h.view.showSweep('digits-k3x9qa');
    await settle();
    const cancel = Array.from(
      h.view.node.querySelectorAll<HTMLButtonElement>('button')
    ).find(b => b.textContent === 'Cancel sweep');
    cancel!.click();
    await settle();
    expect(h.sweeps.cancel).toHaveBeenCalledWith('digits-k3x9qa');
    expect(
      h.view.node.querySelector('.jp-MofangSweep-detail .jp-MofangState')
        ?.textContent
    ).toBe('Cancelled');
  });

  it('offers to edit and re-run a job', async () => {
    const h = harness(makeSweep());
    current = h.view;
    await h.view.start();
    h.view.show('train-abc123');
    await settle();
    const edit = Array.from(
      h.view.node.querySelectorAll<HTMLButtonElement>('button')
    ).find(b => b.textContent === 'Edit and re-run…');
    edit!.click();
    await settle();
    expect(h.editAndRerun).toHaveBeenCalledWith(
      expect.objectContaining({ id: 'train-abc123' })
    );
  });
});
