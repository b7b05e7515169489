import { SweepStore, mergeTrial } from '../sweepstore';
import { makeJob, makeSweep, makeSweepEvent, makeTrial } from './fixtures';

describe('SweepStore', () => {
  it('lists sweeps newest first and keeps loaded trials across list reloads', () => {
    const store = new SweepStore();
    const older = makeSweep({ id: 'a-1', created_at: '2026-01-01T09:00:00Z' });
    const newer = makeSweep({ id: 'b-2', created_at: '2026-01-01T12:00:00Z' });
    store.reset([older, newer]);
    expect(store.sweeps.map(s => s.id)).toEqual(['b-2', 'a-1']);
    store.put({ ...older, trials: [makeTrial()] }, true);
    expect(store.hasTrials('a-1')).toBe(true);
    store.reset([older, newer]);
    expect(store.get('a-1')?.trials).toHaveLength(1);
    expect(store.hasTrials('b-2')).toBe(false);
  });

  it('applies sweep and trial events, in order, once', () => {
    const store = new SweepStore();
    expect(store.apply(makeSweepEvent())).toBe('unknown');
    store.reset([makeSweep()]);
    const pending = makeTrial({
      state: 'Pending',
      objective: null,
      job_id: null
    });
    expect(
      store.apply(
        makeSweepEvent({ seq: 2, trial: pending, counts: { Pending: 1 } })
      )
    ).toBe('changed');
    expect(store.get('digits-k3x9qa')?.trials).toEqual([pending]);
    const done = makeTrial();
    const best = { number: 0, parameters: { lr: 0.01 }, objective: 0.9 };
    expect(
      store.apply(
        makeSweepEvent({ seq: 3, trial: done, counts: { Succeeded: 1 }, best })
      )
    ).toBe('changed');
    // A replayed older event changes nothing.
    expect(store.apply(makeSweepEvent({ seq: 2, trial: pending }))).toBe(
      'stale'
    );
    const sweep = store.get('digits-k3x9qa');
    expect(sweep?.trials).toEqual([done]);
    expect(sweep?.counts).toEqual({ Succeeded: 1 });
    expect(sweep?.best).toEqual(best);
    expect(
      store.apply(
        makeSweepEvent({
          seq: 4,
          state: 'Succeeded',
          reason: 'MaxTrialsReached',
          time: 'T'
        })
      )
    ).toBe('finished');
    expect(store.get('digits-k3x9qa')).toMatchObject({
      state: 'Succeeded',
      reason: 'MaxTrialsReached',
      finished_at: 'T'
    });
    // A finished sweep never goes back to Running, from an event or a late reply.
    expect(store.apply(makeSweepEvent({ seq: 5, state: 'Running' }))).toBe(
      'changed'
    );
    expect(store.get('digits-k3x9qa')?.state).toBe('Succeeded');
    expect(store.put(makeSweep(), true)).toBe(false);
  });

  it('keeps trials further along than a late reply says', () => {
    const store = new SweepStore();
    const done = makeTrial({ number: 1 });
    store.put(makeSweep({ trials: [done] }), true);
    store.put(
      makeSweep({ trials: [makeTrial({ number: 1, state: 'Running' })] }),
      true
    );
    expect(store.get('digits-k3x9qa')?.trials).toEqual([done]);
  });

  it('knows the jobs of its sweeps’ trials by their idempotency key', () => {
    const store = new SweepStore();
    store.reset([makeSweep()]);
    const trialJob = makeJob();
    trialJob.spec = { ...trialJob.spec, idempotency_key: 'digits-k3x9qa-3' };
    expect(store.sweepOfJob(trialJob)).toBe('digits-k3x9qa');
    const other = makeJob();
    other.spec = { ...other.spec, idempotency_key: 'b3f0c1d2' };
    expect(store.sweepOfJob(other)).toBeNull();
    expect(store.sweepOfJob(makeJob())).toBeNull();
  });
});

describe('mergeTrial', () => {
  it('puts a trial in number order and never moves one backwards', () => {
    const one = makeTrial({ number: 1, state: 'Running' });
    const zero = makeTrial({ number: 0 });
    expect(mergeTrial([one], zero).map(t => t.number)).toEqual([0, 1]);
    expect(
      mergeTrial([zero], makeTrial({ number: 0, state: 'Pending' }))
    ).toEqual([zero]);
  });
});
