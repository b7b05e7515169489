// Typed access to the sweeps REST API (/mofang/api/sweeps...). Shapes follow
// the server's SweepRecord, TrialRecord and SweepEvent models (docs/openapi.yaml).
import { URLExt } from '@jupyterlab/coreutils';

import type { JobsClient } from './jobs';
import { JobsApiError } from './jobs';

export const SWEEPS_ENDPOINT = 'mofang/api/sweeps';

export type TrialState =
  'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'EarlyStopped' | 'Cancelled';

export interface TrialRecord {
  number: number;
  job_id: string | null;
  parameters: Record<string, unknown>;
  state: string;
  message: string;
  /** Every report of each metric, in order (one per step). */
  reports: Record<string, number[]>;
  objective: number | null;
  early_stopped: boolean;
  created_at: string;
  finished_at: string | null;
}

export interface BestTrial {
  number: number;
  parameters: Record<string, unknown>;
  objective: number;
}

export interface Objective {
  type: 'maximize' | 'minimize';
  metric: string;
  goal?: number | null;
  additional_metrics?: string[];
}

/** The parts of the server's SweepSettings the panel shows. */
export interface SweepSettings {
  parameters: Record<string, unknown>[];
  objective: Objective;
  algorithm: { name: string; settings?: Record<string, string> };
  parallel_trials: number;
  max_trials: number;
  max_failed_trials: number;
  early_stopping: Record<string, unknown> | null;
}

export interface SweepRecord {
  id: string;
  owner: string;
  name: string;
  notebook: string;
  state: string;
  reason: string;
  message: string;
  settings: SweepSettings;
  created_at: string;
  finished_at: string | null;
  best: BestTrial | null;
  /** Trials per state. */
  counts: Record<string, number>;
  /** Only in the reply of GET /sweeps/ID (and in events, one at a time). */
  trials: TrialRecord[];
}

/** A state change of a sweep, or of one trial (`trial`), as the stream sends it. */
export interface SweepEvent {
  seq: number;
  sweep_id: string;
  state: string;
  reason: string;
  message: string;
  time: string;
  counts: Record<string, number>;
  best: BestTrial | null;
  trial: TrialRecord | null;
}

/** A variable of the notebook's `parameters` cell and a suggested search for it. */
export interface DetectedParameter {
  name: string;
  value: unknown;
  /** A parameter spec (type, min, max, ...) or null: not searchable as it is. */
  search: Record<string, unknown> | null;
}

/** What a notebook offers to sweep (the dry run of a notebook alone). */
export interface NotebookDescription {
  notebook: string;
  parameters: DetectedParameter[];
  metrics: string[];
  algorithms: string[];
}

/** The reply of apply-best: the values written, and what the cell held before. */
export interface AppliedBest {
  notebook: string;
  trial: number;
  objective: number;
  parameters: Record<string, unknown>;
  previous: Record<string, unknown>;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** A sweep as the server sends it (with or without trials); throws if it is not one. */
export function parseSweep(data: unknown): SweepRecord {
  if (
    !isObject(data) ||
    typeof data.id !== 'string' ||
    typeof data.state !== 'string' ||
    !isObject(data.settings)
  ) {
    throw new JobsApiError('Unexpected sweep in the server reply', 200);
  }
  const sweep = data as unknown as SweepRecord;
  return {
    ...sweep,
    counts: isObject(data.counts) ? sweep.counts : {},
    best: isObject(data.best) ? sweep.best : null,
    trials: Array.isArray(data.trials) ? sweep.trials : []
  };
}

/** A SweepEvent from the `data:` of a server-sent event, or null if malformed. */
export function parseSweepEvent(data: string): SweepEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (
    !isObject(value) ||
    typeof value.seq !== 'number' ||
    typeof value.sweep_id !== 'string' ||
    typeof value.state !== 'string'
  ) {
    return null;
  }
  const trial = isObject(value.trial) ? value.trial : null;
  return {
    seq: value.seq,
    sweep_id: value.sweep_id,
    state: value.state,
    reason: text(value.reason),
    message: text(value.message),
    time: text(value.time),
    counts: isObject(value.counts)
      ? (value.counts as Record<string, number>)
      : {},
    best: isObject(value.best) ? (value.best as unknown as BestTrial) : null,
    trial:
      trial && typeof trial.number === 'number'
        ? (trial as unknown as TrialRecord)
        : null
  };
}

/** The sweep calls the panel makes, over the jobs client's authenticated requests. */
export class SweepsClient {
  constructor(readonly jobs: JobsClient) {}

  url(...parts: string[]): string {
    return URLExt.join(this.jobs.settings.baseUrl, SWEEPS_ENDPOINT, ...parts);
  }

  /** Your sweeps, newest first, and the number of the latest sweep event. */
  async list(): Promise<{ sweeps: SweepRecord[]; eventSeq: number }> {
    const response = await this.jobs.request(this.url(), { method: 'GET' });
    const body: unknown = await response.json();
    const sweeps =
      isObject(body) && Array.isArray(body.sweeps) ? body.sweeps : [];
    const seq = isObject(body) ? body.event_seq : 0;
    return {
      sweeps: sweeps.map(parseSweep),
      eventSeq: typeof seq === 'number' ? seq : 0
    };
  }

  async get(sweepId: string): Promise<SweepRecord> {
    const response = await this.jobs.request(this.url(sweepId), {
      method: 'GET'
    });
    return parseSweep(await response.json());
  }

  async cancel(sweepId: string): Promise<SweepRecord> {
    const response = await this.jobs.request(this.url(sweepId, 'cancel'), {
      method: 'POST'
    });
    return parseSweep(await response.json());
  }

  async applyBest(sweepId: string, notebook: string): Promise<AppliedBest> {
    const response = await this.jobs.request(this.url(sweepId, 'apply-best'), {
      method: 'POST',
      body: JSON.stringify({ notebook })
    });
    return (await response.json()) as AppliedBest;
  }

  /** Start a sweep (POST with an idempotency key: a retry cannot start two). */
  async create(request: Record<string, unknown>): Promise<SweepRecord> {
    const response = await this.jobs.request(this.url(), {
      method: 'POST',
      body: JSON.stringify(request)
    });
    return parseSweep(await response.json());
  }

  /** The variables of the notebook's `parameters` cell, its metrics, the algorithms. */
  async describe(notebook: string): Promise<NotebookDescription> {
    const response = await this.jobs.request(this.url(), {
      method: 'POST',
      body: JSON.stringify({ notebook, dry_run: true })
    });
    const body: unknown = await response.json();
    if (!isObject(body) || !Array.isArray(body.parameters)) {
      throw new JobsApiError('Unexpected reply to the notebook dry run', 200);
    }
    return body as unknown as NotebookDescription;
  }
}
