// Pure display helpers for sweeps: summaries, values, the trial table's
// rows and the best-so-far series. No DOM, so they are unit-tested directly.
import type { SweepRecord, TrialRecord } from './sweeps';

/** Trial states that are over (a trial never leaves them). */
const FINISHED_TRIALS = ['Succeeded', 'Failed', 'EarlyStopped', 'Cancelled'];

const TRIAL_LABELS: Record<string, string> = {
  EarlyStopped: 'Early stopped'
};

export function trialStateLabel(state: string): string {
  return TRIAL_LABELS[state] ?? (state || 'Unknown');
}

/** Trials that have finished, whatever their end. */
export function trialsDone(sweep: Pick<SweepRecord, 'counts'>): number {
  return FINISHED_TRIALS.reduce(
    (sum, state) => sum + (sweep.counts[state] ?? 0),
    0
  );
}

/**
 * A number in a narrow column: up to 4 significant digits, exponent form for
 * very small or large magnitudes ("0.9312", "1.5e-5", "12345").
 */
export function formatNumberValue(value: number): string {
  if (!Number.isFinite(value)) {
    return String(value);
  }
  if (Number.isInteger(value)) {
    return String(value);
  }
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) {
    return value.toExponential(2).replace(/\.?0+e/, 'e');
  }
  // Rounded: the digits shown say so (0.99996 is "1.000", never "1").
  const rounded = value.toPrecision(4);
  return Number(rounded) === value ? String(value) : rounded;
}

/** A parameter value as the notebook would read it: numbers short, strings quoted. */
export function formatValue(value: unknown): string {
  if (typeof value === 'number') {
    return formatNumberValue(value);
  }
  if (typeof value === 'string') {
    return JSON.stringify(value);
  }
  if (value === null || value === undefined) {
    return '—';
  }
  return JSON.stringify(value);
}

/** "lr=0.0123, layers=3" */
export function formatParameters(parameters: Record<string, unknown>): string {
  return Object.entries(parameters)
    .map(([name, value]) => `${name}=${formatValue(value)}`)
    .join(', ');
}

/** "tpe · 3/8 trials · best accuracy 0.9312": a sweep's line in the list. */
export function sweepSummary(sweep: SweepRecord): string {
  const parts = [
    sweep.settings.algorithm.name,
    `${trialsDone(sweep)}/${sweep.settings.max_trials} trials`
  ];
  if (sweep.best) {
    parts.push(
      `best ${sweep.settings.objective.metric} ${formatNumberValue(sweep.best.objective)}`
    );
  }
  return parts.join(' · ');
}

/** One row of the trial table, as text. */
export interface TrialRow {
  number: number;
  state: string;
  label: string;
  parameters: string;
  objective: string;
  /** The other metrics' last reports: "train_accuracy=0.97". */
  metrics: string;
  /** Why it failed or stopped; empty otherwise. */
  message: string;
  best: boolean;
  earlyStopped: boolean;
  failed: boolean;
}

export function trialRow(
  trial: TrialRecord,
  objectiveMetric: string,
  bestNumber: number | null
): TrialRow {
  const others = Object.entries(trial.reports)
    .filter(([name, values]) => name !== objectiveMetric && values.length > 0)
    .map(
      ([name, values]) =>
        `${name}=${formatNumberValue(values[values.length - 1])}`
    );
  const reports = trial.reports[objectiveMetric] ?? [];
  // A running trial shows its best report so far, marked as not final.
  let objective = '';
  if (trial.objective !== null && trial.objective !== undefined) {
    objective = formatNumberValue(trial.objective);
  } else if (reports.length > 0) {
    objective = `${formatNumberValue(reports[reports.length - 1])}…`;
  }
  const failed = trial.state === 'Failed';
  const earlyStopped = trial.state === 'EarlyStopped' || trial.early_stopped;
  return {
    number: trial.number,
    state: trial.state,
    label: trialStateLabel(trial.state),
    parameters: formatParameters(trial.parameters),
    objective,
    metrics: others.join(', '),
    message: failed || earlyStopped ? trial.message : '',
    best: bestNumber === trial.number,
    earlyStopped,
    failed
  };
}

/** A trial's objective and the best objective of the trials up to it. */
export interface SeriesPoint {
  number: number;
  value: number;
  /** Only succeeded trials count towards the best (early-stopped ones never do). */
  counted: boolean;
  bestSoFar: number | null;
}

/** The chart's data: every trial with an objective, in trial order. */
export function objectiveSeries(
  trials: TrialRecord[],
  direction: 'maximize' | 'minimize'
): SeriesPoint[] {
  const better = (a: number, b: number): boolean =>
    direction === 'maximize' ? a > b : a < b;
  let best: number | null = null;
  const points: SeriesPoint[] = [];
  for (const trial of [...trials].sort((a, b) => a.number - b.number)) {
    if (trial.objective === null || trial.objective === undefined) {
      continue;
    }
    const counted = trial.state === 'Succeeded';
    if (counted && (best === null || better(trial.objective, best))) {
      best = trial.objective;
    }
    points.push({
      number: trial.number,
      value: trial.objective,
      counted,
      bestSoFar: best
    });
  }
  return points;
}

/** Changes apply-best made: "lr: 0.01 → 0.0423"; unchanged values are left out. */
export function describeChanges(
  previous: Record<string, unknown>,
  applied: Record<string, unknown>
): string[] {
  return Object.entries(applied)
    .filter(([name, value]) => previous[name] !== value)
    .map(([name, value]) =>
      name in previous && previous[name] !== null
        ? `${name}: ${formatValue(previous[name])} → ${formatValue(value)}`
        : `${name} = ${formatValue(value)} (added)`
    );
}
