import {
  SweepFieldError,
  SweepFields,
  buildSweepRequest,
  fieldOfSweepError,
  fieldsFromDescription,
  parameterSpec
} from '../sweepform';
import type { NotebookDescription } from '../sweeps';

const DESCRIPTION: NotebookDescription = {
  notebook: 'train.ipynb',
  parameters: [
    {
      name: 'lr',
      value: 0.01,
      search: {
        type: 'double',
        name: 'lr',
        min: 0.001,
        max: 0.1,
        distribution: 'logUniform'
      }
    },
    {
      name: 'layers',
      value: 2,
      search: { type: 'int', name: 'layers', min: 1, max: 4 }
    },
    {
      name: 'opt',
      value: 'adam',
      search: { type: 'categorical', name: 'opt', values: ['adam'] }
    },
    { name: 'sizes', value: [1, 2], search: null }
  ],
  metrics: ['accuracy', 'loss'],
  algorithms: ['random', 'grid', 'tpe']
};

function fields(): SweepFields {
  return fieldsFromDescription(DESCRIPTION);
}

describe('fieldsFromDescription', () => {
  it('prefills each variable with the server’s suggestion; floats are searched', () => {
    const f = fields();
    expect(
      f.parameters.map(p => [p.name, p.search, p.type, p.current])
    ).toEqual([
      ['lr', true, 'double', '0.01'],
      ['layers', false, 'int', '2'],
      ['opt', false, 'categorical', '"adam"'],
      ['sizes', false, 'categorical', '[1,2]']
    ]);
    expect(f.parameters[0]).toMatchObject({
      min: '0.001',
      max: '0.1',
      log: true
    });
    expect(f.parameters[2].values).toBe('adam');
    expect(f.parameters[3].searchable).toBe(false);
    expect(f).toMatchObject({
      metric: 'accuracy',
      direction: 'maximize',
      algorithm: 'tpe',
      parallel: '2',
      maxTrials: '6',
      earlyStopping: false
    });
  });

  it('minimizes a loss and falls back when nothing is detected', () => {
    const f = fieldsFromDescription({
      ...DESCRIPTION,
      metrics: ['val_loss'],
      algorithms: ['random']
    });
    expect([f.direction, f.algorithm]).toEqual(['minimize', 'random']);
    const none = fieldsFromDescription({
      ...DESCRIPTION,
      metrics: [],
      algorithms: []
    });
    expect([none.metric, none.algorithm]).toEqual(['accuracy', 'tpe']);
  });
});

describe('buildSweepRequest', () => {
  it('sends the searched parameters, objective, algorithm and budget with the key', () => {
    const f = fields();
    f.parameters[1] = { ...f.parameters[1], search: true, step: '1' };
    f.parameters[2] = {
      ...f.parameters[2],
      search: true,
      values: 'adam, sgd ,'
    };
    f.goal = '0.97';
    f.earlyStopping = true;
    f.maxTrials = '8';
    expect(buildSweepRequest(f, 'key-1')).toEqual({
      notebook: 'train.ipynb',
      idempotency_key: 'key-1',
      settings: {
        parameters: [
          {
            type: 'double',
            name: 'lr',
            min: 0.001,
            max: 0.1,
            distribution: 'logUniform'
          },
          {
            type: 'int',
            name: 'layers',
            min: 1,
            max: 4,
            distribution: 'uniform',
            step: 1
          },
          { type: 'categorical', name: 'opt', values: ['adam', 'sgd'] }
        ],
        objective: { type: 'maximize', metric: 'accuracy', goal: 0.97 },
        algorithm: { name: 'tpe' },
        parallel_trials: 2,
        max_trials: 8,
        early_stopping: { algorithm: 'medianstop' }
      }
    });
  });

  it.each([
    [
      (f: SweepFields) => f.parameters.forEach(p => (p.search = false)),
      'parameters',
      'at least one'
    ],
    [
      (f: SweepFields) => (f.parameters[0].min = ''),
      'param:lr',
      'minimum of lr must be a number'
    ],
    [
      (f: SweepFields) => (f.parameters[0].min = '1'),
      'param:lr',
      'must be below its maximum'
    ],
    [
      (f: SweepFields) =>
        Object.assign(f.parameters[0], { log: true, min: '0' }),
      'param:lr',
      'log scale needs a minimum above 0'
    ],
    [
      (f: SweepFields) =>
        Object.assign(f.parameters[1], { search: true, min: '1.5' }),
      'param:layers',
      'whole numbers'
    ],
    [
      (f: SweepFields) =>
        Object.assign(f.parameters[3], {
          search: true,
          type: 'discrete',
          values: '1, x'
        }),
      'param:sizes',
      'must be a number'
    ],
    [(f: SweepFields) => (f.metric = 'acc uracy'), 'metric', 'NAME=VALUE'],
    [(f: SweepFields) => (f.parallel = '0'), 'parallel', 'whole number'],
    [(f: SweepFields) => (f.parallel = '9'), 'parallel', 'at most Max trials'],
    [(f: SweepFields) => (f.goal = 'high'), 'goal', 'must be a number']
  ])('refuses bad input next to its field (%#)', (change, field, text) => {
    const f = fields();
    change(f);
    let error: unknown = null;
    try {
      buildSweepRequest(f, 'k');
    } catch (reason) {
      error = reason;
    }
    expect(error).toBeInstanceOf(SweepFieldError);
    expect((error as SweepFieldError).field).toBe(field);
    expect((error as SweepFieldError).message).toContain(text);
  });

  it('reads discrete values as numbers', () => {
    const p = { ...fields().parameters[1], type: 'discrete', values: '1, 2.5' };
    expect(parameterSpec(p)).toEqual({
      type: 'discrete',
      name: 'layers',
      values: [1, 2.5]
    });
  });
});

describe('fieldOfSweepError', () => {
  it('places the server’s refusals on the field they are about', () => {
    const f = fields();
    f.parameters[1].search = true;
    const cases: [string, string | null][] = [
      [
        "Invalid sweep request: settings: parameter 'layers': min must be below max",
        'param:layers'
      ],
      ['train.ipynb does not assign lr in its cell tagged', 'param:lr'],
      [
        'Invalid sweep request: settings.parameters.1.int.min: Input should be',
        'param:layers'
      ],
      ['settings: parallel_trials must be at most max_trials', 'parallel'],
      ['settings.max_trials: Input should be less than', 'maxTrials'],
      ["The tpe algorithm does not take setting 'x'", 'algorithm'],
      ['settings.objective.goal: must be a finite number', 'goal'],
      ['settings.objective.metric: String should match pattern', 'metric'],
      ['The local backend cannot run mpi jobs here', null]
    ];
    for (const [message, field] of cases) {
      expect([message, fieldOfSweepError(message, f)]).toEqual([
        message,
        field
      ]);
    }
  });
});
