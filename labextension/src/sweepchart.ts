// The objective of each trial and the best so far, as a small plain SVG
// chart for the sweep detail. The geometry (scales, ticks, paths) is pure
// and tested; the SVG is built from it with DOM calls only.
import type { SeriesPoint } from './sweepformat';
import { formatNumberValue } from './sweepformat';

export interface ChartSize {
  width: number;
  height: number;
  /** Room for the axis labels: left, bottom; right and top get `margin`. */
  left: number;
  bottom: number;
  margin: number;
}

export const CHART_SIZE: ChartSize = {
  width: 280,
  height: 150,
  left: 44,
  bottom: 22,
  margin: 8
};

export interface Scale {
  /** Value domain, padded so no point sits on the frame. */
  min: number;
  max: number;
  toY: (value: number) => number;
  toX: (trial: number) => number;
  /** Trial numbers of the first and last x tick. */
  firstTrial: number;
  lastTrial: number;
}

/** Scales mapping trial numbers and objective values into the plot area. */
export function chartScale(
  points: SeriesPoint[],
  size: ChartSize = CHART_SIZE
): Scale {
  const values = points.map(p => p.value);
  let min = values.length ? Math.min(...values) : 0;
  let max = values.length ? Math.max(...values) : 1;
  if (min === max) {
    // One value (or all equal): centre it instead of dividing by zero.
    const pad = Math.abs(min) * 0.1 || 0.5;
    min -= pad;
    max += pad;
  } else {
    const pad = (max - min) * 0.05;
    min -= pad;
    max += pad;
  }
  const numbers = points.map(p => p.number);
  const firstTrial = numbers.length ? Math.min(...numbers) : 0;
  const lastTrial = Math.max(firstTrial + 1, ...numbers);
  const top = size.margin;
  const bottom = size.height - size.bottom;
  const left = size.left;
  const right = size.width - size.margin;
  return {
    min,
    max,
    firstTrial,
    lastTrial,
    toY: value => bottom - ((value - min) / (max - min)) * (bottom - top),
    toX: trial =>
      left + ((trial - firstTrial) / (lastTrial - firstTrial)) * (right - left)
  };
}

/** The best-so-far line as an SVG path: a step after each improvement. */
export function bestSoFarPath(points: SeriesPoint[], scale: Scale): string {
  const parts: string[] = [];
  let last: number | null = null;
  for (const point of points) {
    if (point.bestSoFar === null) {
      continue;
    }
    const x = round(scale.toX(point.number));
    const y = round(scale.toY(point.bestSoFar));
    if (last === null) {
      parts.push(`M${x},${y}`);
    } else {
      parts.push(`H${x}`, `V${y}`);
    }
    last = y;
  }
  return parts.join(' ');
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>,
  text?: string
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, String(value));
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/**
 * The chart: a dot per trial (hollow when it does not count towards the
 * best), the best-so-far step line, the best trial ringed. Its text
 * alternative says the same for screen readers.
 */
export function objectiveChart(
  points: SeriesPoint[],
  metric: string,
  bestNumber: number | null,
  size: ChartSize = CHART_SIZE
): SVGSVGElement {
  const scale = chartScale(points, size);
  const root = svg('svg', {
    class: 'jp-MofangSweepChart',
    viewBox: `0 0 ${size.width} ${size.height}`,
    width: size.width,
    height: size.height,
    role: 'img'
  });
  const best = points.find(p => p.number === bestNumber);
  const summary = best
    ? `${metric} of ${points.length} trials; best: trial ${best.number}, ${formatNumberValue(best.value)}`
    : `${metric} of ${points.length} trials`;
  root.appendChild(svg('title', {}, summary));
  const bottom = size.height - size.bottom;
  const right = size.width - size.margin;
  root.appendChild(
    svg('path', {
      class: 'jp-MofangSweepChart-axis',
      d: `M${size.left},${size.margin} V${bottom} H${right}`
    })
  );
  for (const value of [scale.max, scale.min]) {
    root.appendChild(
      svg(
        'text',
        {
          class: 'jp-MofangSweepChart-label',
          x: size.left - 4,
          y: round(scale.toY(value)) + 3,
          'text-anchor': 'end'
        },
        formatNumberValue(Number(value.toPrecision(3)))
      )
    );
  }
  for (const trial of [scale.firstTrial, scale.lastTrial]) {
    root.appendChild(
      svg(
        'text',
        {
          class: 'jp-MofangSweepChart-label',
          x: round(scale.toX(trial)),
          y: size.height - 6,
          'text-anchor': 'middle'
        },
        `#${trial}`
      )
    );
  }
  root.appendChild(
    svg('path', {
      class: 'jp-MofangSweepChart-best',
      d: bestSoFarPath(points, scale)
    })
  );
  for (const point of points) {
    const dot = svg('circle', {
      class: `jp-MofangSweepChart-point${point.counted ? '' : ' jp-mod-uncounted'}`,
      cx: round(scale.toX(point.number)),
      cy: round(scale.toY(point.value)),
      r: point.number === bestNumber ? 5 : 3
    });
    if (point.number === bestNumber) {
      dot.classList.add('jp-mod-bestTrial');
    }
    dot.appendChild(
      svg(
        'title',
        {},
        `Trial ${point.number}: ${formatNumberValue(point.value)}`
      )
    );
    dot.dataset.trial = String(point.number);
    root.appendChild(dot);
  }
  return root;
}
