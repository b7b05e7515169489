import {
  FieldError,
  buildSubmitRequest,
  defaultFields,
  fieldOfServerError,
  fieldsFromJob,
  parseParameters,
  rerunBase,
  rerunRequest
} from '../submitform';
import { makeJob } from './fixtures';

const fields = (overrides: Record<string, unknown> = {}) => ({
  ...defaultFields('work/train.ipynb'),
  ...overrides
});

function fieldError(run: () => unknown): FieldError {
  try {
    run();
  } catch (error) {
    if (error instanceof FieldError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a FieldError');
}

describe('buildSubmitRequest', () => {
  it('builds a python job with one Worker', () => {
    expect(buildSubmitRequest(fields(), 'key-1')).toEqual({
      notebook: 'work/train.ipynb',
      kind: 'python',
      roles: { Worker: { replicas: 1, resources: { gpus: 0 } } },
      parameters: {},
      idempotency_key: 'key-1'
    });
  });

  it('counts the Master among pytorch replicas, like the CLI', () => {
    const request = buildSubmitRequest(
      fields({
        kind: 'pytorch',
        workers: '3',
        gpus: '1',
        cpu: '2',
        memory: '4'
      }),
      'k'
    );
    const resources = { gpus: 1, cpu: 2, memory_gib: 4 };
    expect(request.roles).toEqual({
      Master: { replicas: 1, resources },
      Worker: { replicas: 2, resources }
    });
    expect(
      buildSubmitRequest(fields({ kind: 'pytorch', workers: '1' }), 'k').roles
    ).toEqual({ Master: { replicas: 1, resources: { gpus: 0 } } });
  });

  it('adds tensorflow PS and Chief on CPU', () => {
    const request = buildSubmitRequest(
      fields({ kind: 'tensorflow', workers: '2', ps: '1', chief: true }),
      'k'
    );
    expect(request.roles).toEqual({
      Worker: { replicas: 2, resources: { gpus: 0 } },
      Chief: { replicas: 1 },
      PS: { replicas: 1 }
    });
  });

  it('reads parameters and the timeout', () => {
    const request = buildSubmitRequest(
      fields({
        parameters:
          "lr=0.01\n\n# a comment\nopt=adam\nsizes=[64, 128]\nname='x y'\nflag=True",
        timeout: '90'
      }),
      'k'
    );
    expect(request.parameters).toEqual({
      lr: 0.01,
      opt: 'adam',
      sizes: [64, 128],
      name: 'x y',
      flag: true
    });
    expect(request.timeout_seconds).toBe(90);
  });

  it('names the field of a mistake', () => {
    expect(
      fieldError(() => buildSubmitRequest(fields({ gpus: '-1' }), 'k')).field
    ).toBe('gpus');
    expect(
      fieldError(() =>
        buildSubmitRequest(fields({ kind: 'pytorch', workers: '0' }), 'k')
      ).field
    ).toBe('workers');
    expect(
      fieldError(() => buildSubmitRequest(fields({ timeout: 'soon' }), 'k'))
        .field
    ).toBe('timeout');
    expect(
      fieldError(() => buildSubmitRequest(fields({ memory: '0' }), 'k')).field
    ).toBe('memory');
    expect(
      fieldError(() =>
        buildSubmitRequest(fields({ kind: 'tensorflow', workers: '0' }), 'k')
      ).message
    ).toMatch(/Chief or at least one Worker/);
  });
});

describe('parseParameters', () => {
  it('refuses lines without = and names that are not variables', () => {
    expect(() => parseParameters('lr 0.1')).toThrow(/has no "="/);
    expect(() => parseParameters('2x=1')).toThrow(/not a Python variable/);
    expect(parseParameters('x = None')).toEqual({ x: null });
  });
});

describe('rerunRequest', () => {
  it('sends the same spec with a new key', () => {
    const job = makeJob();
    job.spec.parameters = { lr: 0.1 };
    job.spec.timeout_seconds = 60;
    expect(rerunRequest(job, 'new-key')).toEqual({
      notebook: 'train.ipynb',
      name: 'train',
      kind: 'pytorch',
      roles: job.spec.roles,
      env: {},
      parameters: { lr: 0.1 },
      restart_policy: 'Never',
      backoff_limit: 3,
      timeout_seconds: 60,
      idempotency_key: 'new-key'
    });
  });
});

describe('fieldOfServerError', () => {
  it('places server messages on the field they are about', () => {
    expect(
      fieldOfServerError(
        'The job asks for 4 GPUs in all; this server has 0. Ask for fewer GPUs or fewer replicas.'
      )
    ).toBe('gpus');
    expect(
      fieldOfServerError(
        'The job has 40 replicas; the local backend runs at most 32. Ask for fewer workers.'
      )
    ).toBe('workers');
    expect(
      fieldOfServerError(
        "Parameter 'epochs' is not a variable of the cell tagged 'parameters'"
      )
    ).toBe('parameters');
    expect(
      fieldOfServerError(
        'The local backend cannot run mpi jobs here (no mpirun); it runs: python'
      )
    ).toBe('kind');
    expect(
      fieldOfServerError('Invalid job request: timeout_seconds: must be > 0')
    ).toBe('timeout');
    expect(fieldOfServerError('Something else went wrong')).toBeNull();
  });
});

describe('fieldsFromJob', () => {
  it('fills the dialog with the job’s settings, and keeps what it does not show', () => {
    const job = makeJob();
    job.spec = {
      ...job.spec,
      env: { SEED: '1' },
      parameters: {
        lr: 0.1,
        opt: 'adam',
        flag: true,
        note: 'two words',
        sizes: [1, 2]
      },
      timeout_seconds: 600,
      roles: {
        Master: { replicas: 1, resources: { cpu: 2, memory_gib: 4, gpus: 1 } },
        Worker: { replicas: 2, resources: { cpu: 2, memory_gib: 4, gpus: 1 } }
      }
    };
    const fields = fieldsFromJob(job);
    expect(fields).toEqual({
      notebook: 'train.ipynb',
      kind: 'pytorch',
      workers: '3',
      ps: '0',
      chief: false,
      gpus: '1',
      cpu: '2',
      memory: '4',
      parameters: 'lr=0.1\nopt=adam\nflag=True\nnote="two words"\nsizes=[1,2]',
      timeout: '600'
    });
    // Read back, the lines give the same values.
    expect(buildSubmitRequest(fields, 'k').parameters).toEqual(
      job.spec.parameters
    );
    const base = rerunBase(job);
    expect(base).toEqual({
      name: 'train',
      env: { SEED: '1' },
      restart_policy: 'Never',
      backoff_limit: 3
    });
  });
});
