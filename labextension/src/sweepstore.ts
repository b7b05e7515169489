// The panel's picture of the user's sweeps: the list fetched once, the
// trials of the sweeps that were opened, both kept up to date by sweep
// events. Pure (no DOM, no requests) so the merge rules are tested.
import type { JobRecord } from './jobs';
import type { EventOutcome } from './jobstore';
import type { SweepEvent, SweepRecord, TrialRecord } from './sweeps';

const TERMINAL_TRIALS = ['Succeeded', 'Failed', 'EarlyStopped', 'Cancelled'];

export function isSweepFinished(state: string): boolean {
  return state !== 'Running' && state !== '';
}

function trialProgress(state: string): number {
  if (TERMINAL_TRIALS.includes(state)) {
    return 2;
  }
  return state === 'Pending' ? 0 : 1;
}

/** `trials` with `trial` put in its place (a trial never moves backwards). */
export function mergeTrial(
  trials: TrialRecord[],
  trial: TrialRecord
): TrialRecord[] {
  const known = trials.find(t => t.number === trial.number);
  if (known && trialProgress(trial.state) < trialProgress(known.state)) {
    return trials;
  }
  return [...trials.filter(t => t.number !== trial.number), trial].sort(
    (a, b) => a.number - b.number
  );
}

export class SweepStore {
  get sweeps(): SweepRecord[] {
    return [...this._sweeps.values()].sort(
      (a, b) => Date.parse(b.created_at) - Date.parse(a.created_at)
    );
  }

  get(sweepId: string): SweepRecord | undefined {
    return this._sweeps.get(sweepId);
  }

  /** Whether the trials of this sweep are known (its detail was loaded). */
  hasTrials(sweepId: string): boolean {
    return this._detailed.has(sweepId);
  }

  /** Replace the list with a fresh one from the server (without trials). */
  reset(sweeps: SweepRecord[]): void {
    const previous = this._sweeps;
    this._sweeps = new Map(
      sweeps.map(sweep => {
        // Keep trials already loaded: the list does not carry them.
        const known = previous.get(sweep.id);
        return [
          sweep.id,
          known && this._detailed.has(sweep.id)
            ? { ...sweep, trials: known.trials }
            : sweep
        ];
      })
    );
  }

  /**
   * Put a record from GET or POST. A reply can cross newer events, so a
   * record that would take a finished sweep back to Running is ignored, and
   * trials already further along are kept. Returns whether it was taken.
   */
  put(sweep: SweepRecord, withTrials: boolean): boolean {
    const known = this._sweeps.get(sweep.id);
    if (
      known &&
      isSweepFinished(known.state) &&
      !isSweepFinished(sweep.state)
    ) {
      return false;
    }
    let trials = withTrials ? sweep.trials : (known?.trials ?? []);
    if (withTrials && known) {
      for (const trial of known.trials) {
        trials = mergeTrial(trials, trial);
      }
    }
    if (withTrials) {
      this._detailed.add(sweep.id);
    }
    this._sweeps.set(sweep.id, { ...sweep, trials });
    return true;
  }

  /** Merge an event: the sweep's state, counts and best, and the trial it is about. */
  apply(event: SweepEvent): EventOutcome {
    const sweep = this._sweeps.get(event.sweep_id);
    if (!sweep) {
      return 'unknown';
    }
    if (event.seq <= (this._seqs.get(sweep.id) ?? 0)) {
      return 'stale';
    }
    this._seqs.set(sweep.id, event.seq);
    const wasFinished = isSweepFinished(sweep.state);
    const state = wasFinished ? sweep.state : event.state;
    this._sweeps.set(sweep.id, {
      ...sweep,
      state,
      reason: wasFinished ? sweep.reason : event.reason,
      message: wasFinished ? sweep.message : event.message,
      counts: event.counts,
      best: event.best,
      finished_at:
        isSweepFinished(state) && !wasFinished ? event.time : sweep.finished_at,
      trials: event.trial ? mergeTrial(sweep.trials, event.trial) : sweep.trials
    });
    return !wasFinished && isSweepFinished(state) ? 'finished' : 'changed';
  }

  /**
   * The sweep a job is a trial of, if any: trials' jobs carry the idempotency
   * key "<sweep id>-<trial number>".
   */
  sweepOfJob(job: JobRecord): string | null {
    const key = job.spec.idempotency_key;
    if (!key) {
      return null;
    }
    const match = /^(.*)-\d+$/.exec(key);
    return match && this._sweeps.has(match[1]) ? match[1] : null;
  }

  private _sweeps = new Map<string, SweepRecord>();
  private _detailed = new Set<string>();
  private _seqs = new Map<string, number>();
}
