// Records shaped like the server's replies, shared by the specs.
import type { JobRecord } from '../jobs';
import type { SweepEvent, SweepRecord, TrialRecord } from '../sweeps';

export function makeJob(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    id: 'train-abc123',
    owner: 'alice',
    name: 'train',
    kind: 'pytorch',
    backend: 'local',
    state: 'Running',
    reason: '',
    message: '',
    folder: 'jobs/train-abc123',
    created_at: '2026-01-01T10:00:00Z',
    started_at: '2026-01-01T10:00:05Z',
    finished_at: null,
    restarts: 0,
    spec: {
      name: 'train',
      kind: 'pytorch',
      notebook: 'train.ipynb',
      roles: {
        Master: {
          replicas: 1,
          resources: { cpu: null, memory_gib: null, gpus: 0 }
        },
        Worker: {
          replicas: 1,
          resources: { cpu: null, memory_gib: null, gpus: 0 }
        }
      },
      nproc_per_node: null,
      env: {},
      parameters: {},
      timeout_seconds: null,
      restart_policy: 'Never',
      backoff_limit: 3
    },
    replicas: [],
    ...overrides
  };
}

export function makeTrial(overrides: Partial<TrialRecord> = {}): TrialRecord {
  return {
    number: 0,
    job_id: 'digits-trial-0-aaaaaa',
    parameters: { lr: 0.01 },
    state: 'Succeeded',
    message: '',
    reports: { accuracy: [0.8, 0.9] },
    objective: 0.9,
    early_stopped: false,
    created_at: '2026-01-01T10:00:00Z',
    finished_at: '2026-01-01T10:01:00Z',
    ...overrides
  };
}

export function makeSweep(overrides: Partial<SweepRecord> = {}): SweepRecord {
  return {
    id: 'digits-k3x9qa',
    owner: 'alice',
    name: 'digits',
    notebook: 'digits.ipynb',
    state: 'Running',
    reason: '',
    message: '',
    settings: {
      parameters: [{ type: 'double', name: 'lr', min: 0.001, max: 0.1 }],
      objective: { type: 'maximize', metric: 'accuracy' },
      algorithm: { name: 'tpe' },
      parallel_trials: 2,
      max_trials: 4,
      max_failed_trials: 3,
      early_stopping: null
    },
    created_at: '2026-01-01T11:00:00Z',
    finished_at: null,
    best: null,
    counts: {},
    trials: [],
    ...overrides
  };
}

export function makeSweepEvent(
  overrides: Partial<SweepEvent> = {}
): SweepEvent {
  return {
    seq: 1,
    sweep_id: 'digits-k3x9qa',
    state: 'Running',
    reason: '',
    message: '',
    time: '2026-01-01T11:00:01Z',
    counts: {},
    best: null,
    trial: null,
    ...overrides
  };
}
