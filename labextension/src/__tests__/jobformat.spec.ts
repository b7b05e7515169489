import {
  formatAge,
  formatDuration,
  isTerminal,
  jobDuration,
  replicaCount,
  rolesSummary,
  stateClass,
  stateLabel,
  stateTone
} from '../jobformat';
import { makeJob } from './fixtures';

describe('states', () => {
  it('knows the final states', () => {
    expect(['Succeeded', 'Failed', 'Cancelled'].every(isTerminal)).toBe(true);
    expect(['Created', 'Running', 'Restarting'].some(isTerminal)).toBe(false);
  });

  it('maps job and replica states to colour tones', () => {
    expect(stateTone('Created')).toBe('pending');
    expect(stateTone('Pending')).toBe('pending');
    expect(stateTone('Restarting')).toBe('pending');
    expect(stateTone('Running')).toBe('running');
    expect(stateTone('Succeeded')).toBe('success');
    expect(stateTone('Failed')).toBe('failure');
    expect(stateTone('Cancelled')).toBe('muted');
    expect(stateTone('Stopped')).toBe('muted');
    expect(stateTone('SomethingNew')).toBe('muted');
    expect(stateClass('Failed')).toBe('jp-MofangState jp-mod-failure');
  });

  it('always has a text label', () => {
    expect(stateLabel('Succeeded')).toBe('Succeeded');
    expect(stateLabel('')).toBe('Unknown');
  });
});

describe('times', () => {
  it('formats durations compactly', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(-5)).toBe('0s');
    expect(formatDuration(42_900)).toBe('42s');
    expect(formatDuration(185_000)).toBe('3m 05s');
    expect(formatDuration((2 * 3600 + 7 * 60) * 1000)).toBe('2h 07m');
    expect(formatDuration((3 * 24 + 4) * 3600 * 1000)).toBe('3d 4h');
  });

  it('formats ages relative to now', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(formatAge('2026-01-01T11:59:55Z', now)).toBe('just now');
    expect(formatAge('2026-01-01T11:59:30Z', now)).toBe('30s ago');
    expect(formatAge('2026-01-01T11:55:00Z', now)).toBe('5m ago');
    expect(formatAge('2026-01-01T09:00:00Z', now)).toBe('3h ago');
    expect(formatAge('2025-12-29T12:00:00Z', now)).toBe('3d ago');
    expect(formatAge('not a date', now)).toBe('');
  });

  it('measures a job from start to finish, or to now while it runs', () => {
    const now = Date.parse('2026-01-01T10:01:05Z');
    expect(jobDuration(makeJob(), now)).toBe('1m 00s');
    expect(
      jobDuration(makeJob({ finished_at: '2026-01-01T10:00:17Z' }), now)
    ).toBe('12s');
    expect(jobDuration(makeJob({ started_at: null }), now)).toBe('');
  });
});

describe('replicas', () => {
  it('counts replicas from the status, or from the spec', () => {
    expect(replicaCount(makeJob())).toBe(2);
    const replica = {
      name: 'worker-0',
      type: 'Worker',
      index: 0,
      state: 'Running',
      restarts: 0,
      exit_code: null,
      message: '',
      log: ''
    };
    expect(replicaCount(makeJob({ replicas: [replica] }))).toBe(1);
    expect(rolesSummary(makeJob())).toBe('Master ×1 · Worker ×1');
  });
});
