import {
  describeChanges,
  formatNumberValue,
  formatParameters,
  formatValue,
  objectiveSeries,
  sweepSummary,
  trialRow,
  trialsDone
} from '../sweepformat';
import { makeSweep, makeTrial } from './fixtures';

describe('values', () => {
  it('keep four significant digits, exponents for tiny and huge ones', () => {
    expect(formatNumberValue(0.93124)).toBe('0.9312');
    expect(formatNumberValue(3)).toBe('3');
    expect(formatNumberValue(0.000015)).toBe('1.5e-5');
    expect(formatNumberValue(2.5e7)).toBe('25000000');
    expect(formatNumberValue(1234567.8)).toBe('1.23e+6');
    expect(formatNumberValue(12.3456)).toBe('12.35');
    expect(formatNumberValue(0.99996)).toBe('1.000');
    expect(formatNumberValue(0.25)).toBe('0.25');
  });

  it('quote strings and show parameters as NAME=VALUE', () => {
    expect(formatValue('adam')).toBe('"adam"');
    expect(formatValue(null)).toBe('—');
    expect(formatValue([1, 2])).toBe('[1,2]');
    expect(formatParameters({ lr: 0.0123456, opt: 'sgd', layers: 3 })).toBe(
      'lr=0.01235, opt="sgd", layers=3'
    );
  });
});

describe('sweepSummary', () => {
  it('counts finished trials of every end against the maximum', () => {
    const sweep = makeSweep({
      counts: { Succeeded: 2, Failed: 1, EarlyStopped: 1, Running: 2 },
      best: { number: 1, parameters: { lr: 0.05 }, objective: 0.95123 }
    });
    expect(trialsDone(sweep)).toBe(4);
    expect(sweepSummary(sweep)).toBe('tpe · 4/4 trials · best accuracy 0.9512');
    expect(sweepSummary(makeSweep())).toBe('tpe · 0/4 trials');
  });
});

describe('trialRow', () => {
  it('marks the best trial and lists the other metrics', () => {
    const row = trialRow(
      makeTrial({ reports: { accuracy: [0.9], loss: [0.5, 0.31] } }),
      'accuracy',
      0
    );
    expect(row).toMatchObject({
      number: 0,
      label: 'Succeeded',
      parameters: 'lr=0.01',
      objective: '0.9',
      metrics: 'loss=0.31',
      best: true,
      earlyStopped: false,
      failed: false,
      message: ''
    });
  });

  it('shows why a trial failed or stopped early', () => {
    const failed = trialRow(
      makeTrial({
        state: 'Failed',
        objective: null,
        reports: {},
        message: 'It never reported accuracy'
      }),
      'accuracy',
      null
    );
    expect(failed).toMatchObject({
      failed: true,
      objective: '',
      message: 'It never reported accuracy',
      best: false
    });
    const stopped = trialRow(
      makeTrial({ state: 'EarlyStopped', message: 'Stopped early.' }),
      'accuracy',
      null
    );
    expect(stopped).toMatchObject({
      label: 'Early stopped',
      earlyStopped: true,
      message: 'Stopped early.'
    });
  });

  it('shows a running trial’s latest report as not final', () => {
    const row = trialRow(
      makeTrial({
        state: 'Running',
        objective: null,
        reports: { accuracy: [0.5, 0.7] }
      }),
      'accuracy',
      null
    );
    expect(row.objective).toBe('0.7…');
  });
});

describe('objectiveSeries', () => {
  const trials = [
    makeTrial({ number: 2, objective: 0.7 }),
    makeTrial({ number: 0, objective: 0.8 }),
    makeTrial({ number: 1, state: 'EarlyStopped', objective: 0.95 }),
    makeTrial({ number: 3, state: 'Running', objective: null }),
    makeTrial({ number: 4, objective: 0.9 })
  ];

  it('keeps the best so far over succeeded trials, in trial order', () => {
    expect(objectiveSeries(trials, 'maximize')).toEqual([
      { number: 0, value: 0.8, counted: true, bestSoFar: 0.8 },
      { number: 1, value: 0.95, counted: false, bestSoFar: 0.8 },
      { number: 2, value: 0.7, counted: true, bestSoFar: 0.8 },
      { number: 4, value: 0.9, counted: true, bestSoFar: 0.9 }
    ]);
  });

  it('takes the lowest when minimizing', () => {
    expect(
      objectiveSeries(trials, 'minimize').map(point => point.bestSoFar)
    ).toEqual([0.8, 0.8, 0.7, 0.7]);
  });
});

describe('describeChanges', () => {
  it('says what apply-best changed and what it added', () => {
    expect(
      describeChanges(
        { lr: 0.01, layers: 2, extra: null },
        { lr: 0.0423, layers: 2, extra: 5 }
      )
    ).toEqual(['lr: 0.01 → 0.0423', 'extra = 5 (added)']);
  });
});
