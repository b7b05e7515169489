// Pure display helpers for jobs: state labels and colour classes, ages and
// durations. No DOM, no JupyterLab imports, so they are unit-tested directly.
import type { JobRecord } from './jobs';

/** States a job never leaves. */
export const TERMINAL_STATES: readonly string[] = [
  'Succeeded',
  'Failed',
  'Cancelled'
];

export function isTerminal(state: string): boolean {
  return TERMINAL_STATES.includes(state);
}

/**
 * Colour family of a state, used as a CSS modifier class. The label is always
 * shown as text too, so colour is never the only cue.
 */
export type StateTone = 'pending' | 'running' | 'success' | 'failure' | 'muted';

const TONES: Record<string, StateTone> = {
  Created: 'pending',
  Pending: 'pending',
  Running: 'running',
  Restarting: 'pending',
  Succeeded: 'success',
  Failed: 'failure',
  Cancelled: 'muted',
  Stopped: 'muted'
};

export function stateTone(state: string): StateTone {
  return TONES[state] ?? 'muted';
}

/** `jp-MofangState jp-mod-success`: the classes of a state badge. */
export function stateClass(state: string): string {
  return `jp-MofangState jp-mod-${stateTone(state)}`;
}

/** The text shown for a state; the server's names are already readable. */
export function stateLabel(state: string): string {
  return state || 'Unknown';
}

/** "0s", "42s", "3m 05s", "2h 07m", "3d 4h": compact, for a narrow sidebar. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) {
    return `${seconds}s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  }
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** "just now", "5m ago", "2h ago", "3d ago". */
export function formatAge(since: string, now: number): string {
  const then = Date.parse(since);
  if (Number.isNaN(then)) {
    return '';
  }
  const seconds = Math.max(0, Math.floor((now - then) / 1000));
  if (seconds < 10) {
    return 'just now';
  }
  if (seconds < 60) {
    return `${seconds}s ago`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes}m ago`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    return `${hours}h ago`;
  }
  return `${Math.floor(hours / 24)}d ago`;
}

/**
 * How long the job ran: from start to finish, or to `now` while it runs.
 * Empty before it started.
 */
export function jobDuration(job: JobRecord, now: number): string {
  if (!job.started_at) {
    return '';
  }
  const start = Date.parse(job.started_at);
  const end = job.finished_at ? Date.parse(job.finished_at) : now;
  if (Number.isNaN(start) || Number.isNaN(end)) {
    return '';
  }
  return formatDuration(end - start);
}

/** Replicas in all, from the spec's roles. */
export function replicaCount(job: JobRecord): number {
  if (job.replicas.length > 0) {
    return job.replicas.length;
  }
  return Object.values(job.spec.roles ?? {}).reduce(
    (sum, role) => sum + (role.replicas || 0),
    0
  );
}

/** "Master ×1 · Worker ×1". */
export function rolesSummary(job: JobRecord): string {
  return Object.entries(job.spec.roles ?? {})
    .map(([role, spec]) => `${role} ×${spec.replicas}`)
    .join(' · ');
}

/** Newest first, the way the server lists them. */
export function sortJobs(jobs: JobRecord[]): JobRecord[] {
  return [...jobs].sort(
    (a, b) => Date.parse(b.created_at) - Date.parse(a.created_at)
  );
}

/** "3m ago · ran 12s": when a job was submitted and how long it ran. */
export function jobTimeText(job: JobRecord, now: number): string {
  const age = formatAge(job.created_at, now);
  const duration = jobDuration(job, now);
  return duration ? `${age} · ran ${duration}` : age;
}
