import type { GpuInfo, MountInfo, ResourceInfo } from '../api';
import {
  PRIVATE_DIR_LABEL,
  displayName,
  formatGpu,
  formatMemory,
  formatNumber,
  formatResources,
  mountBrowserPath,
  mountLabel,
  mountLevelLabel
} from '../format';

const A100: GpuInfo = {
  type: 'a100',
  display_name: 'NVIDIA A100 80GB',
  kind: 'whole',
  count: 1
};

const RESOURCES: ResourceInfo = {
  cpu: 2,
  memory_gib: 4,
  gpus: 1,
  disk_gib: 20
};

function mount(overrides: Partial<MountInfo>): MountInfo {
  return {
    level: 'user',
    group: null,
    path: '',
    read_only: false,
    ...overrides
  };
}

describe('formatNumber', () => {
  it('drops trailing zeros and rounds to two decimals', () => {
    expect(formatNumber(2.0)).toBe('2');
    expect(formatNumber(2.5)).toBe('2.5');
    expect(formatNumber(0.25)).toBe('0.25');
    expect(formatNumber(1 / 3)).toBe('0.33');
  });
});

describe('formatMemory', () => {
  it('uses GiB from 1 GiB up and MiB below', () => {
    expect(formatMemory(4)).toBe('4 GiB');
    expect(formatMemory(1.5)).toBe('1.5 GiB');
    expect(formatMemory(0.5)).toBe('512 MiB');
    expect(formatMemory(0)).toBe('0 GiB');
  });
});

describe('formatGpu', () => {
  it('shows count and display name', () => {
    expect(formatGpu(A100)).toBe('1× NVIDIA A100 80GB');
    expect(formatGpu({ ...A100, count: 2 })).toBe('2× NVIDIA A100 80GB');
  });

  it('marks GPUs that are not whole cards', () => {
    expect(formatGpu({ ...A100, kind: 'mig' })).toBe(
      '1× NVIDIA A100 80GB (mig)'
    );
  });

  it('falls back to the type, then a generic name and the resource count', () => {
    expect(formatGpu({ ...A100, display_name: '' })).toBe('1× a100');
    expect(formatGpu(null, 2)).toBe('2× GPU');
    expect(formatGpu({ ...A100, count: 0 }, 3)).toBe('3× NVIDIA A100 80GB');
  });

  it('is empty when there is no GPU', () => {
    expect(formatGpu(null)).toBe('');
    expect(formatGpu(null, 0)).toBe('');
  });
});

describe('formatResources', () => {
  it('formats the example plan', () => {
    expect(formatResources(RESOURCES, A100)).toBe(
      '2 CPU · 4 GiB · 1× NVIDIA A100 80GB · 20 GiB disk'
    );
  });

  it('leaves out GPU and zero-sized parts', () => {
    expect(formatResources({ ...RESOURCES, gpus: 0 }, null)).toBe(
      '2 CPU · 4 GiB · 20 GiB disk'
    );
    expect(
      formatResources({ cpu: 0.5, memory_gib: 0.5, gpus: 0, disk_gib: 0 }, null)
    ).toBe('0.5 CPU · 512 MiB');
    expect(
      formatResources({ cpu: 0, memory_gib: 0, gpus: 0, disk_gib: 0 }, null)
    ).toBe('');
  });
});

describe('mounts', () => {
  it('labels the private directory and other paths', () => {
    expect(mountLabel(mount({ path: '' }))).toBe(PRIVATE_DIR_LABEL);
    expect(PRIVATE_DIR_LABEL).toBe('~ (your files)');
    expect(mountLabel(mount({ path: '/' }))).toBe('~ (your files)');
    expect(mountLabel(mount({ path: 'projects/vision/' }))).toBe(
      'projects/vision'
    );
  });

  it('describes the level, with the group when there is one', () => {
    expect(mountLevelLabel(mount({ level: 'user' }))).toBe('Personal');
    expect(mountLevelLabel(mount({ level: 'project', group: 'vision' }))).toBe(
      'Project · vision'
    );
    expect(mountLevelLabel(mount({ level: 'global' }))).toBe(
      'Shared with everyone'
    );
    expect(mountLevelLabel(mount({ level: 'scratch' }))).toBe('scratch');
  });

  it('builds absolute file browser paths', () => {
    expect(mountBrowserPath(mount({ path: '' }))).toBe('/');
    expect(mountBrowserPath(mount({ path: 'projects/vision' }))).toBe(
      '/projects/vision'
    );
    expect(mountBrowserPath(mount({ path: '/global/' }))).toBe('/global');
  });
});

describe('displayName', () => {
  it('prefers display_name and falls back to name', () => {
    expect(displayName({ name: 'vision', display_name: 'Vision team' })).toBe(
      'Vision team'
    );
    expect(displayName({ name: 'vision', display_name: '' })).toBe('vision');
  });
});
