// Records shaped like the server's replies, shared by the specs.
import type { JobRecord } from '../jobs';

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
