// The submit dialog's logic without its DOM: turning the fields into the body
// of POST /mofang/api/jobs, re-runs of a job, and placing server errors next
// to the field they are about.
import type { JobRecord } from './jobs';

export const JOB_KINDS = ['python', 'pytorch', 'tensorflow', 'mpi'] as const;

/** The dialog's fields as the user typed them (strings, as inputs hold them). */
export interface SubmitFields {
  notebook: string;
  kind: string;
  /** pytorch: replicas with the Master; tensorflow and mpi: Workers. */
  workers: string;
  ps: string;
  chief: boolean;
  gpus: string;
  cpu: string;
  memory: string;
  parameters: string;
  timeout: string;
}

export type FieldName = keyof SubmitFields;

/** A mistake found before sending, or a server message placed on a field. */
export class FieldError extends Error {
  constructor(
    readonly field: FieldName | null,
    message: string
  ) {
    super(message);
    this.name = 'FieldError';
  }
}

export function defaultFields(notebook: string): SubmitFields {
  return {
    notebook,
    kind: 'python',
    workers: '1',
    ps: '0',
    chief: false,
    gpus: '0',
    cpu: '',
    memory: '',
    parameters: '',
    timeout: ''
  };
}

function count(
  field: FieldName,
  text: string,
  min: number,
  label: string
): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed) || Number(trimmed) < min) {
    throw new FieldError(field, `${label} must be a whole number ≥ ${min}.`);
  }
  return Number(trimmed);
}

function positive(
  field: FieldName,
  text: string,
  label: string
): number | null {
  const trimmed = text.trim();
  if (trimmed === '') {
    return null;
  }
  const value = Number(trimmed);
  if (!Number.isFinite(value) || value <= 0) {
    throw new FieldError(field, `${label} must be a number > 0, or empty.`);
  }
  return value;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A parameter value, read the way the server's `-p NAME=VALUE` reads it
 * (a Python literal, a bare word being a string), as JSON.
 */
export function parseParameterValue(text: string): unknown {
  const value = text.trim();
  if (value === 'True' || value === 'true') {
    return true;
  }
  if (value === 'False' || value === 'false') {
    return false;
  }
  if (value === 'None' || value === 'null') {
    return null;
  }
  if (value !== '' && Number.isFinite(Number(value))) {
    return Number(value);
  }
  const quoted = /^(['"])(.*)\1$/s.exec(value);
  if (quoted) {
    return quoted[2];
  }
  if (/^[[{]/.test(value)) {
    try {
      // Python lists of numbers and double-quoted strings are JSON too;
      // single quotes are read as double quotes.
      return JSON.parse(
        value
          .replace(/'/g, '"')
          .replace(/\bTrue\b/g, 'true')
          .replace(/\bFalse\b/g, 'false')
          .replace(/\bNone\b/g, 'null')
      ) as unknown;
    } catch {
      throw new FieldError('parameters', `Cannot read the value ${value}.`);
    }
  }
  return value;
}

/** "lr=0.01\nopt=adam" → {lr: 0.01, opt: "adam"}; blank and # lines skipped. */
export function parseParameters(text: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) {
      throw new FieldError(
        'parameters',
        `"${line}" has no "="; write NAME=VALUE, for example lr=0.01.`
      );
    }
    const name = line.slice(0, eq).trim();
    if (!IDENTIFIER.test(name)) {
      throw new FieldError(
        'parameters',
        `"${name}" is not a Python variable name.`
      );
    }
    result[name] = parseParameterValue(line.slice(eq + 1));
  }
  return result;
}

/** A fresh idempotency key: one per submission, reused by its retries. */
export function newIdempotencyKey(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The request body for the dialog's fields, counting replicas the way the
 * CLI does (`mofang submit --workers`). Throws FieldError on bad input.
 */
export function buildSubmitRequest(
  fields: SubmitFields,
  idempotencyKey: string
): Record<string, unknown> {
  const kind = fields.kind;
  if (!(JOB_KINDS as readonly string[]).includes(kind)) {
    throw new FieldError('kind', `Unknown job kind "${kind}".`);
  }
  const resources: Record<string, number> = {
    gpus: count('gpus', fields.gpus || '0', 0, 'GPUs')
  };
  const cpu = positive('cpu', fields.cpu, 'CPU');
  if (cpu !== null) {
    resources.cpu = cpu;
  }
  const memory = positive('memory', fields.memory, 'Memory');
  if (memory !== null) {
    resources.memory_gib = memory;
  }
  const roles: Record<string, unknown> = {};
  if (kind === 'python') {
    roles.Worker = { replicas: 1, resources };
  } else if (kind === 'pytorch') {
    const replicas = count('workers', fields.workers, 1, 'Replicas');
    roles.Master = { replicas: 1, resources };
    if (replicas > 1) {
      roles.Worker = { replicas: replicas - 1, resources };
    }
  } else {
    const workers = count(
      'workers',
      fields.workers,
      kind === 'mpi' ? 1 : 0,
      'Workers'
    );
    if (workers > 0) {
      roles.Worker = { replicas: workers, resources };
    }
  }
  if (kind === 'tensorflow') {
    const ps = count('ps', fields.ps || '0', 0, 'Parameter servers');
    if (fields.chief) {
      roles.Chief = { replicas: 1 };
    }
    if (ps > 0) {
      roles.PS = { replicas: ps };
    }
    if (!fields.chief && !roles.Worker) {
      throw new FieldError(
        'workers',
        'A TensorFlow job needs a Chief or at least one Worker.'
      );
    }
  }
  const request: Record<string, unknown> = {
    notebook: fields.notebook,
    kind,
    roles,
    parameters: parseParameters(fields.parameters),
    idempotency_key: idempotencyKey
  };
  const timeout = positive('timeout', fields.timeout, 'Timeout');
  if (timeout !== null) {
    request.timeout_seconds = timeout;
  }
  return request;
}

/** The same request as `job` was made from, with a new idempotency key. */
export function rerunRequest(
  job: JobRecord,
  idempotencyKey: string
): Record<string, unknown> {
  const spec = job.spec;
  const request: Record<string, unknown> = {
    notebook: spec.notebook,
    name: spec.name,
    kind: spec.kind,
    roles: spec.roles,
    env: spec.env ?? {},
    parameters: spec.parameters ?? {},
    restart_policy: spec.restart_policy,
    backoff_limit: spec.backoff_limit,
    idempotency_key: idempotencyKey
  };
  if (spec.mounts) {
    request.mounts = spec.mounts.map(mount => mount.path);
  }
  if (spec.nproc_per_node != null) {
    request.nproc_per_node = spec.nproc_per_node;
  }
  if (spec.kind === 'mpi' && spec.slots_per_worker != null) {
    request.slots_per_worker = spec.slots_per_worker;
  }
  if (spec.timeout_seconds != null) {
    request.timeout_seconds = spec.timeout_seconds;
  }
  return request;
}

/** Text of a parameter value for the "NAME=VALUE" lines (Python literals). */
function parameterText(value: unknown): string {
  if (typeof value === 'string') {
    return /^[A-Za-z_][\w.-]*$/.test(value) &&
      !['True', 'False', 'None', 'true', 'false', 'null'].includes(value)
      ? value
      : JSON.stringify(value);
  }
  if (value === true || value === false) {
    return value ? 'True' : 'False';
  }
  if (value === null) {
    return 'None';
  }
  return JSON.stringify(value);
}

/** The dialog's fields as `job` was submitted: "Edit and re-run". */
export function fieldsFromJob(job: JobRecord): SubmitFields {
  const spec = job.spec;
  const roles = spec.roles ?? {};
  const trainer = roles.Master ?? roles.Worker ?? roles.Chief;
  const resources = trainer?.resources;
  const workers =
    spec.kind === 'pytorch'
      ? (roles.Master?.replicas ?? 0) + (roles.Worker?.replicas ?? 0)
      : (roles.Worker?.replicas ?? 0);
  return {
    notebook: spec.notebook,
    kind: spec.kind,
    workers: String(spec.kind === 'python' ? 1 : workers),
    ps: String(roles.PS?.replicas ?? 0),
    chief: (roles.Chief?.replicas ?? 0) > 0,
    gpus: String(resources?.gpus ?? 0),
    cpu: resources?.cpu != null ? String(resources.cpu) : '',
    memory: resources?.memory_gib != null ? String(resources.memory_gib) : '',
    parameters: Object.entries(spec.parameters ?? {})
      .map(([name, value]) => `${name}=${parameterText(value)}`)
      .join('\n'),
    timeout: spec.timeout_seconds != null ? String(spec.timeout_seconds) : ''
  };
}

/**
 * What a re-run keeps from `job` that the dialog does not show (name, env,
 * restart policy, mounts, ...); the dialog's fields are laid over it.
 */
export function rerunBase(job: JobRecord): Record<string, unknown> {
  const base = rerunRequest(job, '');
  for (const shown of [
    'notebook',
    'kind',
    'roles',
    'parameters',
    'timeout_seconds',
    'idempotency_key'
  ]) {
    delete base[shown];
  }
  return base;
}

// Which field a server message is about, by the words it uses. Messages name
// the field path ("roles.Worker.resources.gpus: ...") or speak of it.
const FIELD_HINTS: [RegExp, FieldName][] = [
  [/parameter/i, 'parameters'],
  [/timeout/i, 'timeout'],
  [/\bGPUs?\b|gpus/i, 'gpus'],
  [/memory/i, 'memory'],
  [/\bcpu\b/i, 'cpu'],
  [/\bPS\b|parameter server/, 'ps'],
  [/replica|worker/i, 'workers'],
  [/\bkind\b|cannot run \w+ jobs/i, 'kind'],
  [/notebook/i, 'notebook']
];

/** Place a server error (`{"message": ...}` of a 400/403) on a field, or null: the top. */
export function fieldOfServerError(message: string): FieldName | null {
  for (const [pattern, field] of FIELD_HINTS) {
    if (pattern.test(message)) {
      return field;
    }
  }
  return null;
}
