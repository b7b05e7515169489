// "Submit notebook as job…": the dialog's form as a Lumino widget for
// JupyterLab's Dialog, and the loop that re-opens it with the server's error
// next to the field it is about until the job is accepted or the user cancels.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { el } from './dom';
import { JobRecord, JobsApiError } from './jobs';
import {
  FieldError,
  FieldName,
  JOB_KINDS,
  SubmitFields,
  buildSubmitRequest,
  defaultFields,
  fieldOfServerError,
  newIdempotencyKey
} from './submitform';

class SubmitForm extends Widget implements Dialog.IBodyWidget<SubmitFields> {
  constructor(fields: SubmitFields, error: FieldError | null) {
    super({ node: el('form', 'jp-MofangSubmit') });
    this._fields = fields;
    const form = this.node as HTMLFormElement;
    form.addEventListener('submit', event => event.preventDefault());
    form.setAttribute('aria-label', 'Submit notebook as job');
    form.appendChild(
      el('p', 'jp-MofangSubmit-notebook', `Notebook: ${fields.notebook}`)
    );
    form.appendChild(
      el(
        'p',
        'jp-MofangSubmit-hint',
        'The notebook is saved, then a snapshot of it runs as a job.'
      )
    );
    const top = el('p', 'jp-MofangSubmit-error');
    top.setAttribute('role', 'alert');
    top.dataset.field = 'top';
    form.appendChild(top);

    const kind = el('select');
    for (const name of JOB_KINDS) {
      const option = el('option', undefined, name);
      option.value = name;
      kind.appendChild(option);
    }
    kind.value = fields.kind;
    this._add('kind', 'Kind', kind);
    this._add('workers', 'Workers', this._input('workers', 'number', '1'));
    const chief = el('input');
    chief.type = 'checkbox';
    chief.name = 'chief';
    chief.checked = fields.chief;
    this._add('chief', 'Chief (tensorflow)', chief);
    this._add('ps', 'Parameter servers', this._input('ps', 'number', '0'));
    this._add('gpus', 'GPUs per replica', this._input('gpus', 'number', '0'));
    this._add('cpu', 'CPU per replica', this._input('cpu', 'number', ''));
    this._add(
      'memory',
      'Memory per replica (GiB)',
      this._input('memory', 'number', '')
    );
    const parameters = el('textarea');
    parameters.name = 'parameters';
    parameters.rows = 3;
    parameters.placeholder = 'lr=0.01\nepochs=3';
    parameters.value = fields.parameters;
    this._add('parameters', 'Parameters (NAME=VALUE lines)', parameters);
    this._add(
      'timeout',
      'Timeout (seconds)',
      this._input('timeout', 'number', '')
    );

    kind.addEventListener('change', () => this._showKindFields());
    this._showKindFields();
    if (error) {
      const target = error.field ? this._errors.get(error.field) : undefined;
      (target ?? top).textContent = error.message;
      const input = error.field
        ? form.querySelector<HTMLElement>(`[name="${error.field}"]`)
        : null;
      input?.setAttribute('aria-invalid', 'true');
    }
  }

  getValue(): SubmitFields {
    const form = this.node;
    const value = (name: string): string =>
      form.querySelector<HTMLInputElement>(`[name="${name}"]`)?.value ?? '';
    return {
      notebook: this._fields.notebook,
      kind: value('kind'),
      workers: value('workers'),
      ps: value('ps'),
      chief:
        form.querySelector<HTMLInputElement>('[name="chief"]')?.checked ??
        false,
      gpus: value('gpus'),
      cpu: value('cpu'),
      memory: value('memory'),
      parameters: value('parameters'),
      timeout: value('timeout')
    };
  }

  private _input(name: FieldName, type: string, min: string): HTMLInputElement {
    const input = el('input');
    input.type = type;
    input.name = name;
    if (min !== '') {
      input.min = min;
    }
    input.step = 'any';
    const value = this._fields[name];
    input.value = typeof value === 'string' ? value : '';
    return input;
  }

  private _add(name: FieldName, label: string, control: HTMLElement): void {
    const id = `jp-MofangSubmit-${name}`;
    control.id = id;
    control.setAttribute('name', name);
    const row = el('div', 'jp-MofangSubmit-row');
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
    this.node.appendChild(row);
    this._rows.set(name, row);
    this._labels.set(name, text);
    this._errors.set(name, error);
  }

  private _showKindFields(): void {
    const kind = this.getValue().kind;
    const show = (name: FieldName, visible: boolean): void => {
      const row = this._rows.get(name);
      if (row) {
        row.hidden = !visible;
      }
    };
    show('workers', kind !== 'python');
    show('chief', kind === 'tensorflow');
    show('ps', kind === 'tensorflow');
    const workers = this._labels.get('workers');
    if (workers) {
      workers.textContent =
        kind === 'pytorch' ? 'Replicas (Master included)' : 'Workers';
    }
  }

  private _fields: SubmitFields;
  private _rows = new Map<FieldName, HTMLElement>();
  private _labels = new Map<FieldName, HTMLLabelElement>();
  private _errors = new Map<FieldName, HTMLElement>();
}

export interface SubmitDialogOptions {
  notebook: string;
  /** Start from these values instead of the defaults (edit and re-run). */
  fields?: SubmitFields;
  /** Request fields the dialog does not show, kept as they are (a re-run's env, ...). */
  base?: Record<string, unknown>;
  title?: string;
  /** Saves the notebook if it has unsaved changes. */
  save: () => Promise<void>;
  submit: (request: Record<string, unknown>) => Promise<JobRecord>;
}

/** Ask, save, submit; the job, or null when the user cancelled. */
export async function submitNotebookDialog(
  options: SubmitDialogOptions
): Promise<JobRecord | null> {
  let fields = options.fields ?? defaultFields(options.notebook);
  let error: FieldError | null = null;
  // One key for this submission: re-trying after an error cannot start twice.
  const key = newIdempotencyKey();
  for (;;) {
    const result = await showDialog({
      title: options.title ?? 'Submit notebook as job',
      body: new SubmitForm(fields, error),
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: 'Submit', ariaLabel: 'Submit the job' })
      ],
      focusNodeSelector: 'select'
    });
    if (!result.button.accept || !result.value) {
      return null;
    }
    fields = result.value;
    try {
      const request = { ...options.base, ...buildSubmitRequest(fields, key) };
      await options.save();
      return await options.submit(request);
    } catch (reason) {
      if (reason instanceof FieldError) {
        error = reason;
      } else if (reason instanceof JobsApiError) {
        error = new FieldError(
          fieldOfServerError(reason.message),
          reason.message
        );
      } else {
        error = new FieldError(
          null,
          reason instanceof Error ? reason.message : String(reason)
        );
      }
    }
  }
}
