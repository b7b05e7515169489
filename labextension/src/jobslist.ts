// The list of the Mofang panel: the user's jobs and sweeps, newest first,
// each a button that opens its detail. Built from plain data; the panel's
// controller (jobsview.ts) decides what is in it.
import { Notification } from '@jupyterlab/apputils';

import { button, el } from './dom';
import { formatAge, replicaCount, stateLabel } from './jobformat';
import type { JobRecord } from './jobs';
import type { ConnectionState } from './events';
import { sweepSummary } from './sweepformat';
import type { SweepRecord } from './sweeps';
import { badge } from './viewparts';

export interface ListContent {
  jobs: JobRecord[];
  sweeps: SweepRecord[];
  /** False until the first list arrived. */
  loaded: boolean;
  /** Why the list could not be loaded; empty when it could. */
  error: string;
  retry: () => void;
  showJob: (jobId: string) => void;
  showSweep: (sweepId: string) => void;
  timeText: (job: JobRecord) => string;
}

export function renderList(content: ListContent): HTMLElement {
  const root = el('div', 'jp-MofangJobs-listBody');
  if (content.error) {
    const error = el('p', 'jp-MofangPanel-errorMessage', content.error);
    error.setAttribute('role', 'alert');
    root.appendChild(error);
    root.appendChild(button('Retry', content.retry, {}));
    return root;
  }
  const rows: Array<[string, HTMLElement]> = [
    ...content.jobs.map((job): [string, HTMLElement] => [
      job.created_at,
      jobRow(job, content)
    ]),
    ...content.sweeps.map((sweep): [string, HTMLElement] => [
      sweep.created_at,
      sweepRow(sweep, content)
    ])
  ];
  if (rows.length === 0) {
    root.appendChild(
      el(
        'p',
        'jp-MofangPanel-status',
        content.loaded
          ? 'No jobs yet. Submit a notebook with the “Submit as job” button of its toolbar, or sweep it with “Sweep”.'
          : 'Loading your jobs…'
      )
    );
    return root;
  }
  const list = el('ul', 'jp-MofangJobs-list');
  list.setAttribute('aria-label', 'Your jobs and sweeps, newest first');
  rows.sort((a, b) => Date.parse(b[0]) - Date.parse(a[0]));
  for (const [, row] of rows) {
    list.appendChild(el('li')).appendChild(row);
  }
  root.appendChild(list);
  return root;
}

function jobRow(job: JobRecord, content: ListContent): HTMLElement {
  const row = el('button', 'jp-MofangJobs-item');
  row.type = 'button';
  row.dataset.jobId = job.id;
  row.dataset.focusKey = `job:${job.id}`;
  row.setAttribute(
    'aria-label',
    `${job.name}, ${job.kind}, ${stateLabel(job.state)}. Show details`
  );
  const top = el('span', 'jp-MofangJobs-itemTop');
  top.appendChild(el('span', 'jp-MofangJobs-name', job.name));
  top.appendChild(badge(job.state));
  row.appendChild(top);
  const replicas = replicaCount(job);
  row.appendChild(
    el(
      'span',
      'jp-MofangJobs-meta',
      `${job.kind} · ${replicas} ${replicas === 1 ? 'replica' : 'replicas'} · ${job.id}`
    )
  );
  const time = el('span', 'jp-MofangJobs-meta', content.timeText(job));
  time.dataset.jobTime = job.id;
  row.appendChild(time);
  row.addEventListener('click', () => content.showJob(job.id));
  return row;
}

function sweepRow(sweep: SweepRecord, content: ListContent): HTMLElement {
  const row = el('button', 'jp-MofangJobs-item jp-MofangSweeps-item');
  row.type = 'button';
  row.dataset.sweepId = sweep.id;
  row.dataset.focusKey = `sweep:${sweep.id}`;
  const summary = sweepSummary(sweep);
  row.setAttribute(
    'aria-label',
    `Sweep ${sweep.name}, ${stateLabel(sweep.state)}, ${summary}. Show details`
  );
  const top = el('span', 'jp-MofangJobs-itemTop');
  top.appendChild(el('span', 'jp-MofangJobs-name', sweep.name));
  top.appendChild(el('span', 'jp-MofangSweeps-tag', 'sweep'));
  top.appendChild(badge(sweep.state));
  row.appendChild(top);
  row.appendChild(el('span', 'jp-MofangJobs-meta', summary));
  row.appendChild(
    el(
      'span',
      'jp-MofangJobs-meta',
      `${formatAge(sweep.created_at, Date.now())} · ${sweep.id}`
    )
  );
  row.addEventListener('click', () => content.showSweep(sweep.id));
  return row;
}

/** A JupyterLab notification for an end: a failure stays, the others close by themselves. */
export function toast(
  state: string,
  text: string,
  label: string,
  caption: string,
  callback: () => void
): void {
  const options = {
    autoClose: state === 'Failed' ? false : (8000 as number | false),
    actions: [{ label, caption, callback }]
  };
  if (state === 'Succeeded') {
    Notification.success(text, options);
  } else if (state === 'Failed') {
    Notification.error(text, options);
  } else {
    Notification.info(text, options);
  }
}

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  lost: 'Connection lost: reconnecting…',
  stopped: ''
};

/** The state of the events stream next to the heading; "Retry now" while it is lost. */
export function renderConnection(
  node: HTMLElement,
  state: ConnectionState,
  retry: () => void
): void {
  node.replaceChildren(el('span', undefined, CONNECTION_TEXT[state]));
  node.className = `jp-MofangJobs-connection jp-mod-${state}`;
  node.dataset.state = state;
  if (state === 'lost') {
    node.appendChild(
      button('Retry now', retry, { className: 'jp-MofangJobs-linkButton' })
    );
  }
}
