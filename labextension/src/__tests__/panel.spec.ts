/**
 * @jest-environment jsdom
 */
import { Widget } from '@lumino/widgets';

import { EnvironmentError, EnvironmentPlan } from '../api';
import { MofangPanel, MofangPanelOptions } from '../panel';

// ui-components ships ES modules and web components; the panel only needs
// icons, so a stand-in LabIcon that renders an empty element is enough.
jest.mock('@jupyterlab/ui-components', () => {
  class LabIcon {
    constructor(readonly options: { name: string; svgstr: string }) {}
    element(props: { tag?: string; className?: string }): HTMLElement {
      const node = document.createElement(props.tag ?? 'div');
      node.className = props.className ?? '';
      return node;
    }
  }
  return { LabIcon, refreshIcon: new LabIcon({ name: 'refresh', svgstr: '' }) };
});

const PLAN: EnvironmentPlan = {
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
  corrections: ['CPU lowered from 64 to 8 cores.'],
  backend: 'local'
};

/** Let pending promise callbacks (fetch + render) run. */
const settle = (): Promise<void> => new Promise(r => setTimeout(r, 0));

let panel: MofangPanel | null = null;

async function open(options: MofangPanelOptions): Promise<MofangPanel> {
  panel = new MofangPanel(options);
  Widget.attach(panel, document.body);
  await settle();
  return panel;
}

function text(selector: string): string[] {
  return Array.from(panel!.node.querySelectorAll(selector)).map(
    node => node.textContent ?? ''
  );
}

function button(label: string): HTMLButtonElement {
  const found = Array.from(panel!.node.querySelectorAll('button')).find(
    node => node.textContent === label
  );
  if (!found) {
    throw new Error(`no button "${label}"`);
  }
  return found;
}

afterEach(() => {
  panel?.dispose();
  panel = null;
});

describe('MofangPanel', () => {
  it('has the sidebar id, caption and heading', async () => {
    await open({ fetchEnvironment: () => Promise.resolve(PLAN) });
    expect(panel!.id).toBe('mofang-sidebar');
    expect(panel!.title.caption).toBe('Mofang: your environment');
    expect(text('h2')).toEqual(['Mofang']);
  });

  it('loads once when shown and renders the plan', async () => {
    const fetchEnvironment = jest.fn(() => Promise.resolve(PLAN));
    await open({ fetchEnvironment, openFolder: jest.fn() });
    expect(fetchEnvironment).toHaveBeenCalledTimes(1);
    expect(text('dd')).toEqual(['alice', 'Vision team']);
    expect(text('.jp-MofangPanel-templateName')).toEqual(['PyTorch']);
    expect(text('.jp-MofangPanel-resources')).toEqual([
      '2 CPU · 4 GiB · 1× NVIDIA A100 80GB · 20 GiB disk'
    ]);
    expect(text('.jp-MofangPanel-mountPath')).toEqual([
      '~ (your files)',
      'projects/vision',
      'global'
    ]);
    expect(text('.jp-MofangPanel-corrections li')).toEqual([
      'CPU lowered from 64 to 8 cores.'
    ]);
    expect(text('.jp-MofangPanel-footer')).toEqual(['Backend: local']);
  });

  it('badges only read-only mounts', async () => {
    await open({ fetchEnvironment: () => Promise.resolve(PLAN) });
    const mounts = Array.from(
      panel!.node.querySelectorAll('.jp-MofangPanel-mount')
    );
    expect(
      mounts.map(m => m.querySelector('.jp-MofangPanel-badge')?.textContent)
    ).toEqual([undefined, undefined, 'read-only']);
  });

  it('opens mounts in the file browser from real buttons', async () => {
    const openFolder = jest.fn(() => Promise.resolve());
    await open({ fetchEnvironment: () => Promise.resolve(PLAN), openFolder });
    const mounts = panel!.node.querySelectorAll<HTMLButtonElement>(
      'button.jp-MofangPanel-mount'
    );
    expect(mounts).toHaveLength(3);
    expect(mounts[0].type).toBe('button');
    mounts[0].click();
    mounts[1].click();
    expect(openFolder.mock.calls).toEqual([['/'], ['/projects/vision']]);
  });

  it('lists mounts as text when there is no file browser', async () => {
    await open({ fetchEnvironment: () => Promise.resolve(PLAN) });
    expect(
      panel!.node.querySelectorAll('button.jp-MofangPanel-mount')
    ).toHaveLength(0);
    expect(
      panel!.node.querySelectorAll('div.jp-MofangPanel-mount')
    ).toHaveLength(3);
  });

  it('shows an empty state, without Retry, when not spawned by Mofang', async () => {
    await open({
      fetchEnvironment: () =>
        Promise.reject(new EnvironmentError('Not started by Mofang.', 404))
    });
    expect(text('.jp-MofangPanel-empty h3')).toEqual(['No Mofang environment']);
    expect(text('.jp-MofangPanel-empty p')).toEqual(['Not started by Mofang.']);
    expect(() => button('Retry')).toThrow();
  });

  it('shows other errors with a Retry button that reloads', async () => {
    const fetchEnvironment = jest
      .fn<Promise<EnvironmentPlan>, []>()
      .mockRejectedValueOnce(
        new EnvironmentError('500 Internal Server Error', 500)
      )
      .mockResolvedValueOnce(PLAN);
    await open({ fetchEnvironment });
    expect(text('.jp-MofangPanel-errorMessage')).toEqual([
      '500 Internal Server Error'
    ]);
    button('Retry').click();
    await settle();
    expect(fetchEnvironment).toHaveBeenCalledTimes(2);
    expect(text('.jp-MofangPanel-error')).toEqual([]);
    expect(text('dd')).toEqual(['alice', 'Vision team']);
  });

  it('refreshes on demand and ignores a stale reply', async () => {
    let resolveSlow: (plan: EnvironmentPlan) => void = () => undefined;
    const slow = new Promise<EnvironmentPlan>(r => (resolveSlow = r));
    const fetchEnvironment = jest
      .fn<Promise<EnvironmentPlan>, []>()
      .mockReturnValueOnce(slow)
      .mockResolvedValueOnce({ ...PLAN, user: 'bob' });
    await open({ fetchEnvironment });
    const refresh = button('Refresh');
    expect(refresh.disabled).toBe(true); // first request still pending
    await panel!.refresh();
    resolveSlow(PLAN);
    await settle();
    expect(text('dd')[0]).toBe('bob');
    expect(refresh.disabled).toBe(false);
  });
});
