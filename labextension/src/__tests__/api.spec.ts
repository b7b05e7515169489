import { ServerConnection } from '@jupyterlab/services';

import {
  EnvironmentError,
  EnvironmentPlan,
  fetchEnvironment,
  parseEnvironment
} from '../api';

// Stub the transport so the tests control each reply and can check the URL
// requested, without a running server. URLExt (coreutils) stays real.
jest.mock('@jupyterlab/services', () => ({
  ServerConnection: {
    makeSettings: jest.fn(),
    makeRequest: jest.fn()
  }
}));

const makeRequest = ServerConnection.makeRequest as jest.MockedFunction<
  typeof ServerConnection.makeRequest
>;
const SETTINGS = {
  baseUrl: 'http://localhost:8888/user/alice/'
} as ServerConnection.ISettings;

/** The example payload from the server, plus a field the UI must ignore. */
const PAYLOAD = {
  user: 'alice',
  group: { name: 'vision', display_name: 'Vision team' },
  template: {
    name: 'pytorch',
    display_name: 'PyTorch',
    image: 'quay.io/jupyter/pytorch-notebook:2024-12-09',
    description: 'PyTorch with CUDA',
    frameworks: ['pytorch']
  },
  resources: { cpu: 2.0, memory_gib: 4.0, gpus: 1, disk_gib: 20.0 },
  gpu: {
    type: 'a100',
    display_name: 'NVIDIA A100 80GB',
    kind: 'whole',
    count: 1
  },
  mounts: [
    { level: 'user', group: null, path: '', read_only: false },
    {
      level: 'project',
      group: 'vision',
      path: 'projects/vision',
      read_only: false
    },
    { level: 'global', group: null, path: 'global', read_only: true }
  ],
  corrections: [
    "CPU lowered from 64 to 8 cores: the most group 'vision' allows per server."
  ],
  backend: 'local',
  future_field: { anything: true }
};

const EXPECTED: EnvironmentPlan = {
  user: 'alice',
  group: { name: 'vision', display_name: 'Vision team' },
  template: {
    name: 'pytorch',
    display_name: 'PyTorch',
    image: 'quay.io/jupyter/pytorch-notebook:2024-12-09',
    description: 'PyTorch with CUDA',
    frameworks: ['pytorch']
  },
  resources: { cpu: 2, memory_gib: 4, gpus: 1, disk_gib: 20 },
  gpu: {
    type: 'a100',
    display_name: 'NVIDIA A100 80GB',
    kind: 'whole',
    count: 1
  },
  mounts: [
    { level: 'user', group: null, path: '', read_only: false },
    {
      level: 'project',
      group: 'vision',
      path: 'projects/vision',
      read_only: false
    },
    { level: 'global', group: null, path: 'global', read_only: true }
  ],
  corrections: [
    "CPU lowered from 64 to 8 cores: the most group 'vision' allows per server."
  ],
  backend: 'local'
};

/** Just enough of a fetch Response for api.ts. */
function reply(status: number, body: string, statusText = ''): Response {
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText,
    text: () => Promise.resolve(body),
    json: () => Promise.resolve(JSON.parse(body) as unknown)
  } as unknown as Response;
}

async function failure(promise: Promise<unknown>): Promise<EnvironmentError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(EnvironmentError);
    return error as EnvironmentError;
  }
  throw new Error('expected the promise to reject');
}

describe('parseEnvironment', () => {
  it('keeps known fields and drops unknown ones', () => {
    expect(parseEnvironment(PAYLOAD)).toEqual(EXPECTED);
  });

  it('accepts a null gpu and missing corrections', () => {
    const body: Record<string, unknown> = { ...PAYLOAD, gpu: null };
    delete body.corrections;
    const plan = parseEnvironment(body);
    expect(plan.gpu).toBeNull();
    expect(plan.corrections).toEqual([]);
  });

  it('falls back to names when display names are missing', () => {
    const plan = parseEnvironment({
      ...PAYLOAD,
      group: { name: 'vision' },
      template: { name: 'pytorch' }
    });
    expect(plan.group.display_name).toBe('vision');
    expect(plan.template.display_name).toBe('pytorch');
    expect(plan.template.frameworks).toEqual([]);
  });

  it('rejects bodies that are not an environment', () => {
    expect(() => parseEnvironment([])).toThrow(EnvironmentError);
    expect(() => parseEnvironment({ group: {} })).toThrow(/missing "user"/);
  });
});

describe('fetchEnvironment', () => {
  beforeEach(() => {
    makeRequest.mockReset();
  });

  it('GETs the endpoint under the base URL and parses the reply', async () => {
    makeRequest.mockResolvedValue(reply(200, JSON.stringify(PAYLOAD)));
    await expect(fetchEnvironment(SETTINGS)).resolves.toEqual(EXPECTED);
    expect(makeRequest).toHaveBeenCalledWith(
      'http://localhost:8888/user/alice/mofang/api/environment',
      { method: 'GET' },
      SETTINGS
    );
  });

  it('maps 404 to a not-Mofang error carrying the server message', async () => {
    makeRequest.mockResolvedValue(
      reply(404, JSON.stringify({ message: 'Not started by Mofang.' }))
    );
    const error = await failure(fetchEnvironment(SETTINGS));
    expect(error.status).toBe(404);
    expect(error.notMofang).toBe(true);
    expect(error.message).toBe('Not started by Mofang.');
  });

  it('uses the status line when the error body is not JSON', async () => {
    makeRequest.mockResolvedValue(
      reply(502, '<html>Bad gateway</html>', 'Bad Gateway')
    );
    const error = await failure(fetchEnvironment(SETTINGS));
    expect(error.status).toBe(502);
    expect(error.notMofang).toBe(false);
    expect(error.message).toBe('502 Bad Gateway');
  });

  it('reports network failures with status 0', async () => {
    makeRequest.mockRejectedValue(new TypeError('Failed to fetch'));
    const error = await failure(fetchEnvironment(SETTINGS));
    expect(error.status).toBe(0);
    expect(error.message).toBe('Failed to fetch');
  });

  it('rejects a 200 reply whose body is not JSON', async () => {
    makeRequest.mockResolvedValue(reply(200, 'not json'));
    const error = await failure(fetchEnvironment(SETTINGS));
    expect(error.status).toBe(200);
    expect(error.message).toMatch(/not valid JSON/);
  });
});
