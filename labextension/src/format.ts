// Pure display helpers. They take plain data (no DOM, no JupyterLab imports)
// so they can be unit-tested without a browser.
import type { GpuInfo, MountInfo, ResourceInfo } from './api';

/** Label used for the mount whose path is "" (the file browser root). */
export const PRIVATE_DIR_LABEL = '~ (your files)';

/** "2", "2.5", "0.25": no trailing zeros, at most two decimals. */
export function formatNumber(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/** Memory sizes come in GiB; small ones read better in MiB ("512 MiB"). */
export function formatMemory(gib: number): string {
  if (gib > 0 && gib < 1) {
    return `${formatNumber(gib * 1024)} MiB`;
  }
  return `${formatNumber(gib)} GiB`;
}

/**
 * "1× NVIDIA A100 80GB". A kind other than "whole" (a slice or share of a
 * card) is appended so users do not expect a full GPU.
 */
export function formatGpu(gpu: GpuInfo | null, fallbackCount = 0): string {
  const count = gpu && gpu.count > 0 ? gpu.count : fallbackCount;
  if (count <= 0) {
    return '';
  }
  const name = gpu?.display_name || gpu?.type || 'GPU';
  const kind = gpu && gpu.kind && gpu.kind !== 'whole' ? ` (${gpu.kind})` : '';
  return `${formatNumber(count)}× ${name}${kind}`;
}

/** "2 CPU · 4 GiB · 1× NVIDIA A100 80GB · 20 GiB disk"; zero parts are left out. */
export function formatResources(
  resources: ResourceInfo,
  gpu: GpuInfo | null
): string {
  const parts: string[] = [];
  if (resources.cpu > 0) {
    parts.push(`${formatNumber(resources.cpu)} CPU`);
  }
  if (resources.memory_gib > 0) {
    parts.push(formatMemory(resources.memory_gib));
  }
  const gpuText = formatGpu(gpu, resources.gpus);
  if (gpuText) {
    parts.push(gpuText);
  }
  if (resources.disk_gib > 0) {
    parts.push(`${formatMemory(resources.disk_gib)} disk`);
  }
  return parts.join(' · ');
}

/** Text shown for a mount: its path, or a friendly name for the home dir. */
export function mountLabel(mount: MountInfo): string {
  const path = trimSlashes(mount.path);
  return path === '' ? PRIVATE_DIR_LABEL : path;
}

const LEVEL_LABELS: Record<string, string> = {
  user: 'Personal',
  project: 'Project',
  global: 'Shared with everyone'
};

/** "Personal", "Project · vision", ...; unknown levels are shown as sent. */
export function mountLevelLabel(mount: MountInfo): string {
  const level = LEVEL_LABELS[mount.level] ?? mount.level;
  return mount.group ? `${level} · ${mount.group}` : level;
}

/** Absolute file-browser path for `FileBrowserModel.cd` ("" -> "/"). */
export function mountBrowserPath(mount: MountInfo): string {
  return '/' + trimSlashes(mount.path);
}

/** Prefer the human name but fall back to the id when it is missing. */
export function displayName(item: {
  name: string;
  display_name: string;
}): string {
  return item.display_name || item.name;
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}
