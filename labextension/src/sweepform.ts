// The sweep dialog's logic without its DOM: its fields prefilled from what
// the notebook offers (the server's dry run of the notebook), turning them
// into the body of POST /mofang/api/sweeps, and placing server errors next
// to the field they are about.
import type { NotebookDescription } from './sweeps';
import { formatValue } from './sweepformat';

export const PARAMETER_TYPES = [
  'double',
  'int',
  'discrete',
  'categorical'
] as const;

/** One variable of the `parameters` cell, as the dialog's inputs hold it. */
export interface ParameterFields {
  name: string;
  /** The value in the notebook, for display. */
  current: string;
  /** False: its value is no number or string (a list, True, None). */
  searchable: boolean;
  search: boolean;
  type: string;
  min: string;
  max: string;
  step: string;
  log: boolean;
  /** discrete and categorical: "0.1, 0.2" or "adam, sgd". */
  values: string;
}

export interface SweepFields {
  notebook: string;
  parameters: ParameterFields[];
  metric: string;
  /** Metric names the notebook seems to report, offered as suggestions. */
  metrics: string[];
  direction: string;
  goal: string;
  algorithm: string;
  algorithms: string[];
  parallel: string;
  maxTrials: string;
  earlyStopping: boolean;
}

/** A field: "metric", "parallel", ..., or "param:NAME" for a parameter's row. */
export type SweepFieldName = string;

export class SweepFieldError extends Error {
  constructor(
    readonly field: SweepFieldName | null,
    message: string
  ) {
    super(message);
    this.name = 'SweepFieldError';
  }
}

function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number'
    ? String(value)
    : '';
}

/** The dialog's starting values: the server's suggestion for each variable. */
export function fieldsFromDescription(
  description: NotebookDescription
): SweepFields {
  const parameters = description.parameters.map((p): ParameterFields => {
    const search = p.search ?? {};
    const values = Array.isArray(search.values)
      ? search.values.map(String).join(', ')
      : '';
    return {
      name: p.name,
      current: formatValue(p.value),
      searchable: p.search !== null,
      // Floats are what a sweep most often searches; the rest are one click away.
      search: search.type === 'double',
      type: text(search.type) || 'categorical',
      min: text(search.min),
      max: text(search.max),
      step: text(search.step),
      log: search.distribution === 'logUniform',
      values
    };
  });
  const metric = description.metrics[0] ?? 'accuracy';
  const algorithms = description.algorithms.length
    ? description.algorithms
    : ['tpe'];
  return {
    notebook: description.notebook,
    parameters,
    metric,
    metrics: description.metrics,
    direction: /loss|error|mse|mae|rmse/i.test(metric)
      ? 'minimize'
      : 'maximize',
    goal: '',
    algorithm: algorithms.includes('tpe') ? 'tpe' : algorithms[0],
    algorithms,
    parallel: '2',
    maxTrials: '6',
    earlyStopping: false
  };
}

function number(field: SweepFieldName, value: string, label: string): number {
  const trimmed = value.trim();
  const parsed = Number(trimmed);
  if (trimmed === '' || !Number.isFinite(parsed)) {
    throw new SweepFieldError(field, `${label} must be a number.`);
  }
  return parsed;
}

function count(field: SweepFieldName, value: string, label: string): number {
  const trimmed = value.trim();
  if (!/^\d+$/.test(trimmed) || Number(trimmed) < 1) {
    throw new SweepFieldError(field, `${label} must be a whole number ≥ 1.`);
  }
  return Number(trimmed);
}

/** The parameter spec of one row (Katib's types, as the server takes them). */
export function parameterSpec(p: ParameterFields): Record<string, unknown> {
  const field = `param:${p.name}`;
  if (p.type === 'discrete' || p.type === 'categorical') {
    const items = p.values
      .split(',')
      .map(item => item.trim())
      .filter(item => item !== '');
    if (items.length === 0) {
      throw new SweepFieldError(
        field,
        `List the values of ${p.name}, separated by commas.`
      );
    }
    const values =
      p.type === 'discrete'
        ? items.map(item => number(field, item, `Each value of ${p.name}`))
        : items;
    return { type: p.type, name: p.name, values };
  }
  if (p.type !== 'double' && p.type !== 'int') {
    throw new SweepFieldError(field, `Unknown parameter type "${p.type}".`);
  }
  const min = number(field, p.min, `The minimum of ${p.name}`);
  const max = number(field, p.max, `The maximum of ${p.name}`);
  if (p.type === 'int' && !(Number.isInteger(min) && Number.isInteger(max))) {
    throw new SweepFieldError(
      field,
      `${p.name} is an int: its minimum and maximum must be whole numbers.`
    );
  }
  if (min >= max) {
    throw new SweepFieldError(
      field,
      `The minimum of ${p.name} must be below its maximum.`
    );
  }
  if (p.log && min <= 0) {
    throw new SweepFieldError(
      field,
      `A log scale needs a minimum above 0 (${p.name}).`
    );
  }
  const spec: Record<string, unknown> = {
    type: p.type,
    name: p.name,
    min,
    max,
    distribution: p.log ? 'logUniform' : 'uniform'
  };
  if (p.step.trim() !== '') {
    spec.step = number(field, p.step, `The step of ${p.name}`);
  }
  return spec;
}

const METRIC = /^[A-Za-z0-9_|-]+$/;

/** The request body for the dialog's fields. Throws SweepFieldError on bad input. */
export function buildSweepRequest(
  fields: SweepFields,
  idempotencyKey: string
): Record<string, unknown> {
  const searched = fields.parameters.filter(p => p.search);
  if (searched.length === 0) {
    throw new SweepFieldError(
      'parameters',
      'Choose at least one parameter to search.'
    );
  }
  const parameters = searched.map(parameterSpec);
  const metric = fields.metric.trim();
  if (!METRIC.test(metric)) {
    throw new SweepFieldError(
      'metric',
      'Name the metric the notebook prints as NAME=VALUE (letters, digits, _ and -).'
    );
  }
  const objective: Record<string, unknown> = { type: fields.direction, metric };
  if (fields.goal.trim() !== '') {
    objective.goal = number('goal', fields.goal, 'The goal');
  }
  const parallel = count('parallel', fields.parallel, 'Parallel trials');
  const maxTrials = count('maxTrials', fields.maxTrials, 'Max trials');
  if (parallel > maxTrials) {
    throw new SweepFieldError(
      'parallel',
      'Parallel trials must be at most Max trials.'
    );
  }
  const settings: Record<string, unknown> = {
    parameters,
    objective,
    algorithm: { name: fields.algorithm },
    parallel_trials: parallel,
    max_trials: maxTrials
  };
  if (fields.earlyStopping) {
    settings.early_stopping = { algorithm: 'medianstop' };
  }
  return {
    notebook: fields.notebook,
    settings,
    idempotency_key: idempotencyKey
  };
}

/**
 * The field a server refusal is about: a parameter (named, or by its place
 * in the request), a setting, or null for the top of the dialog.
 */
export function fieldOfSweepError(
  message: string,
  fields: SweepFields
): SweepFieldName | null {
  const names = fields.parameters.map(p => p.name);
  const sent = fields.parameters.filter(p => p.search).map(p => p.name);
  const named =
    /parameter '([A-Za-z_]\w*)'/.exec(message) ??
    /does not assign (\w+)/.exec(message);
  if (named && names.includes(named[1])) {
    return `param:${named[1]}`;
  }
  const index = /settings\.parameters\.(\d+)/.exec(message);
  if (index && sent[Number(index[1])]) {
    return `param:${sent[Number(index[1])]}`;
  }
  const hints: [RegExp, SweepFieldName][] = [
    [/parallel_trials/, 'parallel'],
    [/max_trials/, 'maxTrials'],
    [/algorithm/, 'algorithm'],
    [/goal/, 'goal'],
    [/metric|objective/, 'metric']
  ];
  for (const [pattern, field] of hints) {
    if (pattern.test(message)) {
      return field;
    }
  }
  return null;
}
