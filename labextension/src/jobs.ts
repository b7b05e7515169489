// Typed access to the jobs REST API (/mofang/api/jobs...). Shapes follow the
// server's JobRecord, ReplicaStatus and JobEvent models (docs/openapi.yaml).
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const JOBS_ENDPOINT = 'mofang/api/jobs';
export const EVENTS_ENDPOINT = 'mofang/api/events';

export type JobState =
  'Created' | 'Running' | 'Restarting' | 'Succeeded' | 'Failed' | 'Cancelled';

export interface ReplicaResources {
  cpu: number | null;
  memory_gib: number | null;
  gpus: number;
}

export interface RoleSpec {
  replicas: number;
  resources: ReplicaResources;
}

export interface MountSpec {
  path: string;
  [key: string]: unknown;
}

/** The parts of the server's JobSpec the panel uses (and re-submits). */
export interface JobSpec {
  name: string;
  kind: string;
  notebook: string;
  roles: Record<string, RoleSpec>;
  nproc_per_node: number | null;
  slots_per_worker?: number;
  mounts?: MountSpec[];
  env: Record<string, string>;
  parameters: Record<string, unknown>;
  timeout_seconds: number | null;
  restart_policy: string;
  backoff_limit: number;
  /** Trials' jobs carry "<sweep id>-<trial number>". */
  idempotency_key?: string | null;
}

export interface ReplicaStatus {
  name: string;
  type: string;
  index: number;
  state: string;
  restarts: number;
  exit_code: number | null;
  message: string;
  log: string;
}

export interface JobRecord {
  id: string;
  owner: string;
  name: string;
  kind: string;
  backend: string;
  state: string;
  reason: string;
  message: string;
  folder: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  restarts: number;
  spec: JobSpec;
  replicas: ReplicaStatus[];
}

export interface JobEvent {
  seq: number;
  job_id: string;
  state: string;
  reason: string;
  message: string;
  time: string;
}

/** A refused or failed request; `status` 0 means no response arrived. */
export class JobsApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'JobsApiError';
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A job record as sent by the server; rejects bodies that are not one. */
export function parseJob(data: unknown): JobRecord {
  if (
    !isObject(data) ||
    typeof data.id !== 'string' ||
    typeof data.state !== 'string' ||
    !isObject(data.spec)
  ) {
    throw new JobsApiError('Unexpected job in the server reply', 200);
  }
  const job = data as unknown as JobRecord;
  return { ...job, replicas: Array.isArray(data.replicas) ? job.replicas : [] };
}

/** A JobEvent from the `data:` of a server-sent event, or null if malformed. */
export function parseJobEvent(data: string): JobEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (
    !isObject(value) ||
    typeof value.seq !== 'number' ||
    typeof value.job_id !== 'string' ||
    typeof value.state !== 'string'
  ) {
    return null;
  }
  return {
    seq: value.seq,
    job_id: value.job_id,
    state: value.state,
    reason: typeof value.reason === 'string' ? value.reason : '',
    message: typeof value.message === 'string' ? value.message : '',
    time: typeof value.time === 'string' ? value.time : ''
  };
}

/** `{"message": ...}` of an error reply, or the status line. */
export async function errorMessage(response: Response): Promise<string> {
  const fallback = `${response.status} ${response.statusText}`.trim();
  try {
    const body: unknown = JSON.parse(await response.text());
    if (isObject(body) && typeof body.message === 'string' && body.message) {
      return body.message;
    }
  } catch {
    // not JSON: the status line is all there is
  }
  return fallback;
}

/** The calls the panel makes; one instance per front end. */
export class JobsClient {
  constructor(
    readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  url(...parts: string[]): string {
    return URLExt.join(this.settings.baseUrl, JOBS_ENDPOINT, ...parts);
  }

  /** Raw request (used for streams too); network failures become status 0. */
  async request(url: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (reason) {
      if (reason instanceof DOMException && reason.name === 'AbortError') {
        throw reason;
      }
      const message =
        reason instanceof Error ? reason.message : 'Network error';
      throw new JobsApiError(message, 0);
    }
    if (!response.ok) {
      throw new JobsApiError(await errorMessage(response), response.status);
    }
    return response;
  }

  /** Your jobs, newest first, and the number of the latest job event. */
  async load(): Promise<{ jobs: JobRecord[]; eventSeq: number }> {
    const response = await this.request(this.url(), { method: 'GET' });
    const body: unknown = await response.json();
    const jobs = isObject(body) && Array.isArray(body.jobs) ? body.jobs : [];
    const seq = isObject(body) ? body.event_seq : 0;
    return {
      jobs: jobs.map(parseJob),
      eventSeq: typeof seq === 'number' ? seq : 0
    };
  }

  async list(): Promise<JobRecord[]> {
    return (await this.load()).jobs;
  }

  async get(jobId: string): Promise<JobRecord> {
    const response = await this.request(this.url(jobId), { method: 'GET' });
    return parseJob(await response.json());
  }

  async cancel(jobId: string): Promise<JobRecord> {
    const response = await this.request(this.url(jobId, 'cancel'), {
      method: 'POST'
    });
    return parseJob(await response.json());
  }

  async submit(request: Record<string, unknown>): Promise<JobRecord> {
    const response = await this.request(this.url(), {
      method: 'POST',
      body: JSON.stringify(request)
    });
    return parseJob(await response.json());
  }

  /** URL of a replica's log; `follow` keeps the response open while it runs. */
  logsUrl(jobId: string, replica: string, follow: boolean): string {
    const query = URLExt.objectToQueryString({
      replica,
      ...(follow ? { follow: '1' } : {})
    });
    return this.url(jobId, 'logs') + query;
  }

  /** URL of the event stream after the cursor `since` ("<job seq>:<sweep seq>"). */
  eventsUrl(since: string): string {
    return (
      URLExt.join(this.settings.baseUrl, EVENTS_ENDPOINT) +
      URLExt.objectToQueryString({ since })
    );
  }
}
