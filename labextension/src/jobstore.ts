// The panel's picture of the user's jobs: the list fetched once, then kept up
// to date by events. Pure (no DOM, no requests) so the merge rules are tested.
import type { JobEvent, JobRecord } from './jobs';
import { isTerminal } from './jobformat';

export type EventOutcome =
  /** the job is not known yet: fetch its record */
  | 'unknown'
  /** an event older than what the store shows (a replay): ignored */
  | 'stale'
  /** the state changed */
  | 'changed'
  /** the state changed to a final one: tell the user */
  | 'finished';

/** Created, then running (or restarting), then final: states only move forward. */
function progress(state: string): number {
  if (isTerminal(state)) {
    return 2;
  }
  return state === 'Created' ? 0 : 1;
}

export class JobStore {
  get jobs(): JobRecord[] {
    return [...this._jobs.values()].sort(
      (a, b) => Date.parse(b.created_at) - Date.parse(a.created_at)
    );
  }

  get(jobId: string): JobRecord | undefined {
    return this._jobs.get(jobId);
  }

  /** Replace everything with a fresh list from the server. */
  reset(jobs: JobRecord[]): void {
    this._jobs = new Map(jobs.map(job => [job.id, job]));
  }

  /**
   * Put a full record (from GET or POST). Replies can arrive after newer
   * events (a POST answered after its job's first events, two GETs crossing),
   * so a record that is behind what the store shows is ignored. Returns
   * whether it was taken.
   */
  put(job: JobRecord): boolean {
    const known = this._jobs.get(job.id);
    if (known && progress(job.state) < progress(known.state)) {
      return false;
    }
    this._jobs.set(job.id, job);
    return true;
  }

  /**
   * Merge an event. The stream replays history on first connect, so an
   * event may be older than the record: a final state is never left, and a
   * job never goes back to Created.
   */
  apply(event: JobEvent): EventOutcome {
    const job = this._jobs.get(event.job_id);
    if (!job) {
      return 'unknown';
    }
    if (isTerminal(job.state) || job.state === event.state) {
      return 'stale';
    }
    if (event.state === 'Created') {
      return 'stale';
    }
    const finished = isTerminal(event.state);
    this._jobs.set(job.id, {
      ...job,
      state: event.state,
      reason: event.reason,
      message: event.message,
      started_at:
        job.started_at ?? (event.state === 'Running' ? event.time : null),
      finished_at: finished ? (job.finished_at ?? event.time) : job.finished_at
    });
    return finished ? 'finished' : 'changed';
  }

  private _jobs = new Map<string, JobRecord>();
}
