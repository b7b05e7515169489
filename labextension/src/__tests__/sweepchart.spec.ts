/**
 * @jest-environment jsdom
 */
import {
  CHART_SIZE,
  bestSoFarPath,
  chartScale,
  objectiveChart
} from '../sweepchart';
import type { SeriesPoint } from '../sweepformat';

const point = (
  number: number,
  value: number,
  bestSoFar: number | null,
  counted = true
): SeriesPoint => ({ number, value, counted, bestSoFar });

const SIZE = { width: 110, height: 70, left: 10, bottom: 10, margin: 0 };

describe('chartScale', () => {
  it('maps trials left to right and values bottom to top, with 5% room', () => {
    const scale = chartScale([point(0, 0, 0), point(10, 1, 1)], SIZE);
    expect(scale.min).toBeCloseTo(-0.05);
    expect(scale.max).toBeCloseTo(1.05);
    expect(scale.toX(0)).toBe(10);
    expect(scale.toX(10)).toBe(110);
    expect(scale.toX(5)).toBe(60);
    // 60 px of plot height (70 - 10 at the bottom).
    expect(scale.toY(scale.min)).toBeCloseTo(60);
    expect(scale.toY(scale.max)).toBeCloseTo(0);
    expect(scale.toY(0.5)).toBeCloseTo(30);
  });

  it('centres one value (or equal values) instead of dividing by zero', () => {
    const scale = chartScale([point(3, 0.8, 0.8)], SIZE);
    expect(scale.min).toBeCloseTo(0.72);
    expect(scale.max).toBeCloseTo(0.88);
    expect(scale.toY(0.8)).toBeCloseTo(30);
    // One trial still spans the axis: trial 3 at the left, 4 at the right.
    expect([scale.firstTrial, scale.lastTrial]).toEqual([3, 4]);
    expect(Number.isFinite(scale.toX(3))).toBe(true);
    const zero = chartScale([point(0, 0, 0)], SIZE);
    expect([zero.min, zero.max]).toEqual([-0.5, 0.5]);
  });

  it('copes with no points at all', () => {
    const scale = chartScale([], CHART_SIZE);
    expect(Number.isFinite(scale.toY(0.5))).toBe(true);
  });
});

describe('bestSoFarPath', () => {
  it('steps to each new best and holds it between', () => {
    const points = [
      point(0, 0, null, false),
      point(1, 0.5, 0.5),
      point(2, 0.2, 0.5),
      point(3, 1, 1)
    ];
    const scale = chartScale(
      [point(0, 0, 0), point(3, 1, 1)],
      { ...SIZE, width: 40, left: 10 } // 10 px per trial
    );
    expect(bestSoFarPath(points, scale)).toBe(
      `M20,${Math.round(scale.toY(0.5) * 10) / 10} H30 V${Math.round(scale.toY(0.5) * 10) / 10} H40 V${Math.round(scale.toY(1) * 10) / 10}`
    );
  });
});

describe('objectiveChart', () => {
  it('draws a dot per trial, rings the best, and says it in words', () => {
    const svg = objectiveChart(
      [point(0, 0.8, 0.8), point(1, 0.95, 0.8, false), point(2, 0.9, 0.9)],
      'accuracy',
      2
    );
    expect(svg.getAttribute('role')).toBe('img');
    expect(svg.querySelector('title')?.textContent).toBe(
      'accuracy of 3 trials; best: trial 2, 0.9'
    );
    const dots = Array.from(svg.querySelectorAll('circle'));
    expect(dots.map(dot => dot.dataset.trial)).toEqual(['0', '1', '2']);
    expect(dots[1].classList.contains('jp-mod-uncounted')).toBe(true);
    expect(dots[2].classList.contains('jp-mod-bestTrial')).toBe(true);
    expect(dots[2].getAttribute('r')).toBe('5');
    expect(
      svg.querySelector('.jp-MofangSweepChart-best')?.getAttribute('d')
    ).toMatch(/^M[\d.]+,[\d.]+ H[\d.]+ V[\d.]+ H[\d.]+ V[\d.]+$/);
  });
});
