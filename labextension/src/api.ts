import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Path of the environment endpoint, relative to the server's base URL. */
export const ENVIRONMENT_ENDPOINT = 'mofang/api/environment';

export interface GroupInfo {
  name: string;
  display_name: string;
}

export interface TemplateInfo {
  name: string;
  display_name: string;
  image: string;
  description: string;
  frameworks: string[];
}

export interface ResourceInfo {
  cpu: number;
  memory_gib: number;
  gpus: number;
  disk_gib: number;
}

export interface GpuInfo {
  type: string;
  display_name: string;
  /** e.g. "whole"; other values mean a slice or share of a card. */
  kind: string;
  count: number;
}

export interface MountInfo {
  /** "user", "project" or "global"; kept as a string so new levels still render. */
  level: string;
  group: string | null;
  /** Relative to the file browser root; "" is the user's own directory. */
  path: string;
  read_only: boolean;
}

/** What the server planned (and actually granted) for this user's server. */
export interface EnvironmentPlan {
  user: string;
  group: GroupInfo;
  template: TemplateInfo;
  resources: ResourceInfo;
  gpu: GpuInfo | null;
  mounts: MountInfo[];
  /** Human-readable notes on where the request was adjusted to fit policy. */
  corrections: string[];
  backend: string;
}

/**
 * Any failure to obtain the plan. `status` is the HTTP status, or 0 when no
 * response arrived (network error) so callers can branch without instanceof
 * checks on several error types.
 */
export class EnvironmentError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'EnvironmentError';
  }

  /** 404 means this server was not started by a Mofang spawner. */
  get notMofang(): boolean {
    return this.status === 404;
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(obj: Json, key: string, fallback = ''): string {
  const value = obj[key];
  return typeof value === 'string' ? value : fallback;
}

function num(obj: Json, key: string): number {
  const value = obj[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function strList(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((item): item is string => typeof item === 'string')
    : [];
}

function malformed(what: string): EnvironmentError {
  // Status 200: the request worked but the payload is not what we expect,
  // which is most likely a version mismatch between server and front end.
  return new EnvironmentError(`Unexpected environment response: ${what}`, 200);
}

/**
 * Validate the JSON body and copy only the known fields, so that extra
 * fields added by newer servers are ignored instead of leaking into the UI.
 */
export function parseEnvironment(data: unknown): EnvironmentPlan {
  if (!isObject(data)) {
    throw malformed('not a JSON object');
  }
  const user = str(data, 'user');
  if (!user) {
    throw malformed('missing "user"');
  }
  const group = isObject(data.group) ? data.group : {};
  const template = isObject(data.template) ? data.template : {};
  const resources = isObject(data.resources) ? data.resources : {};
  const gpu = isObject(data.gpu) ? data.gpu : null;
  const mounts = Array.isArray(data.mounts) ? data.mounts.filter(isObject) : [];

  const groupName = str(group, 'name');
  const templateName = str(template, 'name');
  return {
    user,
    group: {
      name: groupName,
      display_name: str(group, 'display_name', groupName)
    },
    template: {
      name: templateName,
      display_name: str(template, 'display_name', templateName),
      image: str(template, 'image'),
      description: str(template, 'description'),
      frameworks: strList(template.frameworks)
    },
    resources: {
      cpu: num(resources, 'cpu'),
      memory_gib: num(resources, 'memory_gib'),
      gpus: num(resources, 'gpus'),
      disk_gib: num(resources, 'disk_gib')
    },
    gpu: gpu && {
      type: str(gpu, 'type'),
      display_name: str(gpu, 'display_name', str(gpu, 'type', 'GPU')),
      kind: str(gpu, 'kind'),
      count: num(gpu, 'count')
    },
    mounts: mounts.map(mount => ({
      level: str(mount, 'level'),
      group: typeof mount.group === 'string' ? mount.group : null,
      path: str(mount, 'path'),
      read_only: mount.read_only === true
    })),
    corrections: strList(data.corrections),
    backend: str(data, 'backend')
  };
}

/** Best-effort error text from a failed response: `{"message": ...}` or the status line. */
async function errorMessage(response: Response): Promise<string> {
  const fallback = `${response.status} ${response.statusText}`.trim();
  try {
    const body: unknown = JSON.parse(await response.text());
    if (isObject(body) && typeof body.message === 'string' && body.message) {
      return body.message;
    }
  } catch {
    // Not JSON (e.g. a proxy's HTML error page): the status line is all we have.
  }
  return fallback;
}

/** Fetch the environment plan of the server this JupyterLab is talking to. */
export async function fetchEnvironment(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<EnvironmentPlan> {
  const url = URLExt.join(settings.baseUrl, ENVIRONMENT_ENDPOINT);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url,
      { method: 'GET' },
      settings
    );
  } catch (reason) {
    const message = reason instanceof Error ? reason.message : 'Network error';
    throw new EnvironmentError(message, 0);
  }
  if (!response.ok) {
    throw new EnvironmentError(await errorMessage(response), response.status);
  }
  let data: unknown;
  try {
    data = await response.json();
  } catch {
    throw malformed('body is not valid JSON');
  }
  return parseEnvironment(data);
}
