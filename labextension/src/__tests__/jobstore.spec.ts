import type { JobEvent } from '../jobs';
import { JobStore } from '../jobstore';
import { makeJob } from './fixtures';

function event(overrides: Partial<JobEvent>): JobEvent {
  return {
    seq: 1,
    job_id: 'train-abc123',
    state: 'Running',
    reason: '',
    message: '',
    time: '2026-01-01T10:00:30Z',
    ...overrides
  };
}

describe('JobStore', () => {
  it('lists jobs newest first', () => {
    const store = new JobStore();
    store.reset([
      makeJob({ id: 'a', created_at: '2026-01-01T10:00:00Z' }),
      makeJob({ id: 'b', created_at: '2026-01-01T11:00:00Z' })
    ]);
    expect(store.jobs.map(job => job.id)).toEqual(['b', 'a']);
  });

  it('asks for the record of a job it does not know', () => {
    expect(new JobStore().apply(event({}))).toBe('unknown');
  });

  it('applies a final state once and keeps it', () => {
    const store = new JobStore();
    store.reset([makeJob()]);
    const done = event({
      seq: 4,
      state: 'Succeeded',
      time: '2026-01-01T10:01:00Z'
    });
    expect(store.apply(done)).toBe('finished');
    expect(store.get('train-abc123')?.state).toBe('Succeeded');
    expect(store.get('train-abc123')?.finished_at).toBe('2026-01-01T10:01:00Z');
    // A replayed older event never moves a finished job back.
    expect(store.apply(event({ seq: 2, state: 'Running' }))).toBe('stale');
    expect(store.apply(done)).toBe('stale');
    expect(store.get('train-abc123')?.state).toBe('Succeeded');
  });

  it('ignores a replayed Created and records the start time', () => {
    const store = new JobStore();
    store.reset([makeJob({ state: 'Created', started_at: null })]);
    expect(store.apply(event({ state: 'Created' }))).toBe('stale');
    expect(store.apply(event({ state: 'Running' }))).toBe('changed');
    expect(store.get('train-abc123')?.started_at).toBe('2026-01-01T10:00:30Z');
    expect(
      store.apply(event({ state: 'Restarting', reason: 'ReplicaFailed' }))
    ).toBe('changed');
    expect(store.get('train-abc123')?.reason).toBe('ReplicaFailed');
  });

  it('ignores a late record that is behind the events', () => {
    const store = new JobStore();
    store.reset([makeJob({ state: 'Running' })]);
    store.apply(event({ seq: 3, state: 'Succeeded' }));
    // e.g. the POST reply or an earlier GET, answered after the final event
    expect(store.put(makeJob({ state: 'Running' }))).toBe(false);
    expect(store.put(makeJob({ state: 'Created' }))).toBe(false);
    expect(store.get('train-abc123')?.state).toBe('Succeeded');
    // A full record of the same progress replaces the event's summary.
    expect(store.put(makeJob({ state: 'Succeeded', message: 'done' }))).toBe(
      true
    );
    expect(store.get('train-abc123')?.message).toBe('done');
  });
});
