// "Sweep notebook…": the dialog's form as a Lumino widget for JupyterLab's
// Dialog, and the loop that saves the notebook, asks the server what it
// offers to search, and re-opens the form with the server's error next to
// the field it is about until the sweep is accepted or the user cancels.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { el } from './dom';
import { JobsApiError } from './jobs';
import { newIdempotencyKey } from './submitform';
import {
  PARAMETER_TYPES,
  ParameterFields,
  SweepFieldError,
  SweepFields,
  buildSweepRequest,
  fieldOfSweepError,
  fieldsFromDescription
} from './sweepform';
import type { NotebookDescription, SweepRecord } from './sweeps';

function input(
  name: string,
  value: string,
  label: string,
  type = 'text'
): HTMLInputElement {
  const node = el('input');
  node.type = type;
  node.name = name;
  node.value = value;
  node.setAttribute('aria-label', label);
  if (type === 'number') {
    node.step = 'any';
  }
  return node;
}

function checkbox(
  name: string,
  checked: boolean,
  label: string
): HTMLInputElement {
  const node = el('input');
  node.type = 'checkbox';
  node.name = name;
  node.checked = checked;
  node.setAttribute('aria-label', label);
  return node;
}

function select(
  name: string,
  options: readonly string[],
  value: string,
  label: string
): HTMLSelectElement {
  const node = el('select');
  node.name = name;
  node.setAttribute('aria-label', label);
  for (const option of options) {
    const item = el('option', undefined, option);
    item.value = option;
    node.appendChild(item);
  }
  node.value = value;
  return node;
}

class SweepForm extends Widget implements Dialog.IBodyWidget<SweepFields> {
  constructor(fields: SweepFields, error: SweepFieldError | null) {
    super({ node: el('form', 'jp-MofangSubmit jp-MofangSweepForm') });
    this._fields = fields;
    const form = this.node as HTMLFormElement;
    form.addEventListener('submit', event => event.preventDefault());
    form.setAttribute('aria-label', 'Sweep notebook');
    form.appendChild(
      el('p', 'jp-MofangSubmit-notebook', `Notebook: ${fields.notebook}`)
    );
    form.appendChild(
      el(
        'p',
        'jp-MofangSubmit-hint',
        'The notebook is saved; each trial runs it with these values set after its cell tagged “parameters” and reads the NAME=VALUE lines it prints.'
      )
    );
    const top = el('p', 'jp-MofangSubmit-error');
    top.setAttribute('role', 'alert');
    this._errors.set('top', top);
    form.appendChild(top);

    const group = el('fieldset', 'jp-MofangSweepForm-parameters');
    group.appendChild(el('legend', undefined, 'Parameters to search'));
    const parametersError = el('span', 'jp-MofangSubmit-error');
    parametersError.setAttribute('role', 'alert');
    this._errors.set('parameters', parametersError);
    group.appendChild(parametersError);
    for (const p of fields.parameters) {
      group.appendChild(this._parameterRow(p));
    }
    form.appendChild(group);

    const datalist = el('datalist');
    datalist.id = 'jp-MofangSweepForm-metrics';
    for (const name of fields.metrics) {
      const option = el('option');
      option.value = name;
      datalist.appendChild(option);
    }
    form.appendChild(datalist);
    this._settings = el('div', 'jp-MofangSweepForm-settings');
    form.appendChild(this._settings);
    const metric = input('metric', fields.metric, 'Objective metric');
    metric.setAttribute('list', datalist.id);
    this._row('metric', 'Objective metric', metric);
    this._row(
      'direction',
      'Direction',
      select(
        'direction',
        ['maximize', 'minimize'],
        fields.direction,
        'Direction'
      )
    );
    this._row(
      'goal',
      'Goal (optional)',
      input('goal', fields.goal, 'Goal', 'number')
    );
    this._row(
      'algorithm',
      'Algorithm',
      select('algorithm', fields.algorithms, fields.algorithm, 'Algorithm')
    );
    this._row(
      'parallel',
      'Parallel trials',
      input('parallel', fields.parallel, 'Parallel trials', 'number')
    );
    this._row(
      'maxTrials',
      'Max trials',
      input('maxTrials', fields.maxTrials, 'Max trials', 'number')
    );
    this._row(
      'earlyStopping',
      'Early stopping (median stop)',
      checkbox('earlyStopping', fields.earlyStopping, 'Early stopping')
    );

    if (error) {
      const target = (error.field && this._errors.get(error.field)) || top;
      target.textContent = error.message;
      this._rows.get(error.field ?? '')?.classList.add('jp-mod-invalid');
    }
  }

  getValue(): SweepFields {
    const form = this.node;
    const value = (name: string): string =>
      form.querySelector<HTMLInputElement>(`[name="${name}"]`)?.value ?? '';
    const checked = (name: string): boolean =>
      form.querySelector<HTMLInputElement>(`[name="${name}"]`)?.checked ??
      false;
    return {
      ...this._fields,
      parameters: this._fields.parameters.map(p => ({
        ...p,
        search: checked(`search-${p.name}`),
        type: value(`type-${p.name}`),
        min: value(`min-${p.name}`),
        max: value(`max-${p.name}`),
        step: value(`step-${p.name}`),
        log: checked(`log-${p.name}`),
        values: value(`values-${p.name}`)
      })),
      metric: value('metric'),
      direction: value('direction'),
      goal: value('goal'),
      algorithm: value('algorithm'),
      parallel: value('parallel'),
      maxTrials: value('maxTrials'),
      earlyStopping: checked('earlyStopping')
    };
  }

  private _parameterRow(p: ParameterFields): HTMLElement {
    const field = `param:${p.name}`;
    const row = el('div', 'jp-MofangSweepForm-parameter');
    row.dataset.field = field;
    const label = el('label', 'jp-MofangSweepForm-search');
    const search = checkbox(`search-${p.name}`, p.search, `Search ${p.name}`);
    search.disabled = !p.searchable;
    label.appendChild(search);
    label.appendChild(el('span', 'jp-MofangSweepForm-name', ` ${p.name}`));
    label.appendChild(el('span', 'jp-MofangJobs-meta', ` = ${p.current}`));
    row.appendChild(label);
    const controls = el('div', 'jp-MofangSweepForm-controls');
    const type = select(
      `type-${p.name}`,
      PARAMETER_TYPES,
      p.type,
      `Type of ${p.name}`
    );
    controls.appendChild(type);
    const range = el('span', 'jp-MofangSweepForm-range');
    range.appendChild(
      input(`min-${p.name}`, p.min, `Minimum of ${p.name}`, 'number')
    );
    range.appendChild(document.createTextNode(' to '));
    range.appendChild(
      input(`max-${p.name}`, p.max, `Maximum of ${p.name}`, 'number')
    );
    const step = input(
      `step-${p.name}`,
      p.step,
      `Step of ${p.name} (optional)`,
      'number'
    );
    step.placeholder = 'step';
    range.appendChild(step);
    const log = el('label');
    log.appendChild(
      checkbox(`log-${p.name}`, p.log, `Log scale for ${p.name}`)
    );
    log.appendChild(document.createTextNode(' log'));
    range.appendChild(log);
    controls.appendChild(range);
    const values = input(
      `values-${p.name}`,
      p.values,
      `Values of ${p.name}, separated by commas`
    );
    values.placeholder = 'a, b, c';
    controls.appendChild(values);
    const showFor = (): void => {
      const listed = type.value === 'discrete' || type.value === 'categorical';
      range.hidden = listed;
      values.hidden = !listed;
      controls.hidden = !search.checked;
    };
    type.addEventListener('change', showFor);
    search.addEventListener('change', showFor);
    showFor();
    row.appendChild(controls);
    const error = el('span', 'jp-MofangSubmit-error');
    error.setAttribute('role', 'alert');
    row.appendChild(error);
    this._errors.set(field, error);
    this._rows.set(field, row);
    return row;
  }

  private _row(name: string, label: string, control: HTMLElement): void {
    const id = `jp-MofangSweepForm-${name}`;
    control.id = id;
    const row = el('div', 'jp-MofangSweepForm-setting');
    row.dataset.field = name;
    const text = el('label', undefined, label);
    text.htmlFor = id;
    row.appendChild(text);
    row.appendChild(control);
    const error = el('span', 'jp-MofangSubmit-error');
    error.id = `${id}-error`;
    error.setAttribute('role', 'alert');
    control.setAttribute('aria-describedby', error.id);
    row.appendChild(error);
    this._settings.appendChild(row);
    this._errors.set(name, error);
    this._rows.set(name, row);
  }

  private _fields: SweepFields;
  private _settings: HTMLElement;
  private _rows = new Map<string, HTMLElement>();
  private _errors = new Map<string, HTMLElement>();
}

export interface SweepDialogOptions {
  notebook: string;
  /** Saves the notebook if it has unsaved changes (the server reads the saved file). */
  save: () => Promise<void>;
  describe: (notebook: string) => Promise<NotebookDescription>;
  create: (request: Record<string, unknown>) => Promise<SweepRecord>;
}

/** Save, ask, start; the sweep, or null when the user cancelled. */
export async function sweepNotebookDialog(
  options: SweepDialogOptions
): Promise<SweepRecord | null> {
  await options.save();
  let fields = fieldsFromDescription(await options.describe(options.notebook));
  let error: SweepFieldError | null = null;
  // One key for this dialog: retrying after an error cannot start two sweeps.
  const key = newIdempotencyKey();
  for (;;) {
    const result = await showDialog({
      title: 'Sweep notebook',
      body: new SweepForm(fields, error),
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: 'Start sweep', ariaLabel: 'Start the sweep' })
      ],
      focusNodeSelector: 'input'
    });
    if (!result.button.accept || !result.value) {
      return null;
    }
    fields = result.value;
    try {
      const request = buildSweepRequest(fields, key);
      await options.save();
      return await options.create(request);
    } catch (reason) {
      if (reason instanceof SweepFieldError) {
        error = reason;
      } else if (reason instanceof JobsApiError) {
        error = new SweepFieldError(
          fieldOfSweepError(reason.message, fields),
          reason.message
        );
      } else {
        error = new SweepFieldError(
          null,
          reason instanceof Error ? reason.message : String(reason)
        );
      }
    }
  }
}
