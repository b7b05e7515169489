// The detail of one sweep in the Mofang panel: its settings and state, the
// objective of each trial with the best so far (sweepchart.ts), the trial
// table, and its actions: apply the best values to the notebook, cancel.
// The panel's controller (jobsview.ts) owns the data; this part renders it.
import { button, el } from './dom';
import { badge, message } from './viewparts';
import { objectiveChart } from './sweepchart';
import {
  describeChanges,
  formatNumberValue,
  formatParameters,
  objectiveSeries,
  trialRow,
  trialStateLabel,
  trialsDone
} from './sweepformat';
import { AppliedBest, SweepRecord, SweepsClient } from './sweeps';
import { isSweepFinished } from './sweepstore';

/** What the detail needs from the panel around it. */
export interface SweepDetailHost {
  client: SweepsClient;
  back: () => void;
  refresh: (sweepId: string) => Promise<void>;
  /** A newer record of the sweep on screen (after cancel). */
  updated: (sweep: SweepRecord) => void;
  /** Show the job of a trial. */
  showJob: (jobId: string) => void;
  /** Save the notebook where it is open with unsaved changes: nothing typed is lost. */
  saveNotebook?: (path: string) => Promise<void>;
  /** The notebook was rewritten on disk: reload it where it is open. */
  notebookChanged?: (path: string) => Promise<void>;
}

export class SweepDetail {
  constructor(host: SweepDetailHost) {
    this._host = host;
  }

  /** Another sweep is shown (or none): forget the last action's result. */
  reset(): void {
    this._applied = null;
    this._status = '';
  }

  render(sweep: SweepRecord): HTMLElement {
    const root = el('div', 'jp-MofangJobs-detail jp-MofangSweep-detail');
    root.dataset.sweepId = sweep.id;
    const nav = el('div', 'jp-MofangJobs-toolbar');
    const back = button('← All jobs', () => this._host.back(), {
      title: 'Back to the list of jobs and sweeps'
    });
    back.classList.add('jp-MofangJobs-back');
    back.dataset.focusKey = 'back';
    nav.appendChild(back);
    const refresh = button('Refresh', () => void this._host.refresh(sweep.id), {
      title: 'Reload this sweep'
    });
    refresh.dataset.focusKey = 'refresh';
    nav.appendChild(refresh);
    root.appendChild(nav);

    const title = el('div', 'jp-MofangJobs-itemTop');
    title.appendChild(el('h4', 'jp-MofangJobs-detailName', sweep.name));
    title.appendChild(badge(sweep.state));
    root.appendChild(title);
    root.appendChild(this._facts(sweep));
    root.appendChild(this._actions(sweep));

    const metric = sweep.settings.objective.metric;
    const bestNumber = sweep.best?.number ?? null;
    const points = objectiveSeries(sweep.trials, sweep.settings.objective.type);
    if (points.length > 0) {
      const figure = el('figure', 'jp-MofangSweep-figure');
      figure.appendChild(objectiveChart(points, metric, bestNumber));
      figure.appendChild(
        el(
          'figcaption',
          'jp-MofangJobs-meta',
          `${metric} by trial (dots), best so far (line); hollow: did not count`
        )
      );
      root.appendChild(figure);
    }
    root.appendChild(this._table(sweep));
    return root;
  }

  private _facts(sweep: SweepRecord): HTMLElement {
    const facts = el('dl', 'jp-MofangPanel-facts');
    const fact = (term: string, value: string): void => {
      if (value) {
        facts.appendChild(el('dt', undefined, term));
        facts.appendChild(el('dd', undefined, value));
      }
    };
    const settings = sweep.settings;
    const running = sweep.counts.Running ?? 0;
    fact('Sweep', sweep.id);
    fact('Notebook', sweep.notebook);
    fact(
      'Objective',
      `${settings.objective.type} ${settings.objective.metric}`
    );
    fact('Algorithm', settings.algorithm.name);
    fact(
      'Trials',
      `${trialsDone(sweep)} of ${settings.max_trials} done` +
        (running ? `, ${running} running` : '') +
        ` (${settings.parallel_trials} at once)`
    );
    fact('Early stopping', settings.early_stopping ? 'medianstop' : 'off');
    fact('Reason', sweep.reason);
    fact('Message', sweep.message);
    if (sweep.best) {
      facts.appendChild(el('dt', undefined, 'Best'));
      facts.appendChild(
        el(
          'dd',
          'jp-MofangSweep-best',
          `trial ${sweep.best.number}: ${settings.objective.metric} ` +
            `${formatNumberValue(sweep.best.objective)} ` +
            `(${formatParameters(sweep.best.parameters)})`
        )
      );
    }
    return facts;
  }

  private _actions(sweep: SweepRecord): DocumentFragment {
    const fragment = document.createDocumentFragment();
    const actions = el('div', 'jp-MofangJobs-toolbar');
    const status = el('div', 'jp-MofangJobs-actionStatus');
    status.setAttribute('role', 'status');
    status.textContent = this._status;
    if (!isSweepFinished(sweep.state)) {
      const cancel = button('Cancel sweep', () => {
        cancel.disabled = true;
        this._status = 'Cancelling the running trials…';
        status.textContent = this._status;
        this._host.client.cancel(sweep.id).then(
          record => {
            this._status = '';
            this._host.updated(record);
          },
          reason => {
            cancel.disabled = false;
            this._status = `Could not cancel: ${message(reason)}`;
            status.textContent = this._status;
          }
        );
      });
      cancel.classList.add('jp-mod-warn');
      cancel.dataset.focusKey = 'cancel';
      actions.appendChild(cancel);
    }
    if (sweep.best) {
      const apply = button(
        'Apply best parameters to the notebook',
        () => {
          // Not disabled while it works: a disabled button would drop the
          // keyboard focus, which stays on it for the next key press.
          if (this._applying) {
            return;
          }
          this._applying = true;
          apply.setAttribute('aria-disabled', 'true');
          this._status = 'Writing the best values…';
          status.textContent = this._status;
          void this._apply(sweep).finally(() => {
            this._applying = false;
            void this._host.refresh(sweep.id);
          });
        },
        {
          title: `Write trial ${sweep.best.number}'s values into the cell tagged “parameters” of ${sweep.notebook}`
        }
      );
      apply.classList.add('jp-MofangSweep-apply');
      apply.dataset.focusKey = 'apply';
      actions.appendChild(apply);
    }
    fragment.appendChild(actions);
    if (this._applied) {
      status.appendChild(appliedReport(this._applied));
    }
    fragment.appendChild(status);
    return fragment;
  }

  private async _apply(sweep: SweepRecord): Promise<void> {
    try {
      await this._host.saveNotebook?.(sweep.notebook);
      this._applied = await this._host.client.applyBest(
        sweep.id,
        sweep.notebook
      );
      this._status = '';
      await this._host.notebookChanged?.(this._applied.notebook);
    } catch (reason) {
      this._applied = null;
      this._status = `Could not apply: ${message(reason)}`;
    }
  }

  private _table(sweep: SweepRecord): HTMLElement {
    const metric = sweep.settings.objective.metric;
    const table = el('table', 'jp-MofangSweep-trials');
    table.appendChild(
      el('caption', undefined, `Trials (${sweep.trials.length}), best in bold`)
    );
    const rows = sweep.trials.map(trial =>
      trialRow(trial, metric, sweep.best?.number ?? null)
    );
    // A narrow sidebar has no room for an empty column.
    const others = rows.some(row => row.metrics !== '');
    const columns = ['#', 'State', 'Parameters', metric];
    if (others) {
      columns.push('Other metrics');
    }
    const head = el('tr');
    for (const name of columns) {
      const cell = el('th', undefined, name);
      cell.scope = 'col';
      head.appendChild(cell);
    }
    table.appendChild(el('thead')).appendChild(head);
    const body = table.appendChild(el('tbody'));
    sweep.trials.forEach((trial, index) => {
      const row = rows[index];
      const tr = el('tr', 'jp-MofangSweep-trial');
      tr.dataset.trial = String(row.number);
      tr.dataset.state = row.state;
      tr.classList.toggle('jp-mod-best', row.best);
      tr.classList.toggle('jp-mod-earlyStopped', row.earlyStopped);
      tr.classList.toggle('jp-mod-failed', row.failed);
      const number = el('th');
      number.scope = 'row';
      const jobId = trial.job_id;
      if (jobId) {
        const open = button(
          String(row.number),
          () => this._host.showJob(jobId),
          {
            className: 'jp-MofangJobs-linkButton',
            title: `Show the job of trial ${row.number} (${jobId})`
          }
        );
        open.setAttribute('aria-label', `Trial ${row.number}: show its job`);
        open.dataset.focusKey = `trial:${row.number}`;
        number.appendChild(open);
      } else {
        number.textContent = String(row.number);
      }
      tr.appendChild(number);
      const state = el(
        'td',
        undefined,
        row.best ? `${row.label} (best)` : row.label
      );
      tr.appendChild(state);
      tr.appendChild(el('td', 'jp-MofangSweep-parameters', row.parameters));
      tr.appendChild(el('td', 'jp-MofangSweep-objective', row.objective));
      if (others) {
        tr.appendChild(el('td', 'jp-MofangSweep-metrics', row.metrics));
      }
      body.appendChild(tr);
      if (row.message) {
        const note = el('tr', 'jp-MofangSweep-trialMessage');
        note.dataset.trial = String(row.number);
        const cell = el(
          'td',
          undefined,
          `${trialStateLabel(row.state)}: ${row.message}`
        );
        cell.colSpan = columns.length;
        note.appendChild(cell);
        body.appendChild(note);
      }
    });
    return table;
  }

  private _host: SweepDetailHost;
  private _applied: AppliedBest | null = null;
  private _applying = false;
  private _status = '';
}

/** "Wrote trial 3's values into train.ipynb:" and one line per change. */
export function appliedReport(applied: AppliedBest): HTMLElement {
  const node = el('div', 'jp-MofangSweep-applied');
  const changes = describeChanges(applied.previous ?? {}, applied.parameters);
  node.appendChild(
    el(
      'p',
      undefined,
      changes.length
        ? `Wrote trial ${applied.trial}'s values into ${applied.notebook}:`
        : `${applied.notebook} already had trial ${applied.trial}'s values.`
    )
  );
  if (changes.length) {
    const list = el('ul');
    for (const change of changes) {
      list.appendChild(el('li', undefined, change));
    }
    node.appendChild(list);
  }
  return node;
}
