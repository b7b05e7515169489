// The jobs part of the Mofang panel: the user's jobs (newest first) kept up
// to date by the events stream, and the detail of one job (replicas, logs,
// folder, cancel, re-run). Plain DOM like the environment part; the I/O is
// injected so the view can be driven with fakes.
import { Notification } from '@jupyterlab/apputils';

import { el, button } from './dom';
import {
  ConnectionState,
  ReconnectingEventStream,
  ServerSentEvent
} from './events';
import {
  formatAge,
  isTerminal,
  jobDuration,
  replicaCount,
  rolesSummary,
  stateClass,
  stateLabel
} from './jobformat';
import { JobRecord, JobsClient, ReplicaStatus, parseJobEvent } from './jobs';
import { JobStore } from './jobstore';
import { newIdempotencyKey, rerunRequest } from './submitform';

export interface JobsViewOptions {
  client: JobsClient;
  /** Open a file (the job's notebook snapshot) in JupyterLab. */
  openFile?: (path: string) => Promise<void>;
  /** Show a folder in the file browser. */
  openFolder?: (path: string) => Promise<void>;
  /** Bring the Mofang panel to the front (from a notification). */
  reveal?: () => void;
}

/** How often ages and running durations are redrawn; no request is made. */
const CLOCK_MS = 5000;

function badge(state: string): HTMLElement {
  const node = el('span', stateClass(state), stateLabel(state));
  node.setAttribute('aria-label', `State: ${stateLabel(state)}`);
  return node;
}

function message(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

export class JobsView {
  readonly node: HTMLElement;

  constructor(options: JobsViewOptions) {
    this._options = options;
    this._client = options.client;
    this.node = el('section', 'jp-MofangJobs');
    this.node.setAttribute('aria-label', 'Jobs');

    const header = el('div', 'jp-MofangJobs-header');
    header.appendChild(el('h3', 'jp-MofangPanel-sectionTitle', 'Jobs'));
    this._connection = el('span', 'jp-MofangJobs-connection');
    this._connection.setAttribute('role', 'status');
    header.appendChild(this._connection);
    this.node.appendChild(header);

    this._body = el('div', 'jp-MofangJobs-body');
    this.node.appendChild(this._body);

    this._stream = new ReconnectingEventStream({
      open: async (since, signal) => {
        const response = await this._client.request(
          this._client.eventsUrl(since),
          { method: 'GET', signal, cache: 'no-store' }
        );
        if (!response.body) {
          throw new Error('The browser cannot read streamed responses');
        }
        return response.body.getReader();
      },
      onEvent: event => this._onEvent(event),
      onState: state => this._onConnection(state)
    });
  }

  get store(): JobStore {
    return this._store;
  }

  /** The id of the job whose detail is shown, or null for the list. */
  get selected(): string | null {
    return this._selected;
  }

  /** Load the list, then follow the events. Call once. */
  async start(): Promise<void> {
    this._renderList();
    this._clock = setInterval(() => this._tick(), CLOCK_MS);
    await this._loadList();
    this._stream.start(0);
  }

  dispose(): void {
    this._stream.stop();
    this._followAbort?.abort();
    if (this._clock !== null) {
      clearInterval(this._clock);
    }
  }

  /** A job the user just submitted: show it without waiting for its event. */
  add(job: JobRecord): void {
    this._store.put(job);
    this._render();
  }

  /** Show a job's detail (from the list, a notification or a submission). */
  show(jobId: string | null): void {
    if (this._selected !== jobId) {
      this._followAbort?.abort();
      this._followAbort = null;
      this._logReplica = null;
    }
    this._selected = jobId;
    this._render();
    if (jobId) {
      void this._refreshJob(jobId);
    }
  }

  private async _loadList(): Promise<void> {
    try {
      this._store.reset(await this._client.list());
      this._listError = '';
    } catch (reason) {
      this._listError = message(reason);
    }
    this._loaded = true;
    this._render();
  }

  private _onEvent(sse: ServerSentEvent): void {
    if (sse.event !== 'job') {
      return;
    }
    const event = parseJobEvent(sse.data);
    if (!event) {
      return;
    }
    const outcome = this._store.apply(event);
    if (outcome === 'unknown') {
      // A job created since the list was loaded (from here, before the POST
      // answered, or from the CLI or a magic): one GET for its record.
      const finished = isTerminal(event.state) && !this._listError;
      void this._refreshJob(event.job_id).then(() => {
        if (finished) {
          this._notify(event.job_id);
        }
      });
    } else if (
      outcome === 'finished' ||
      (outcome === 'changed' && this._selected === event.job_id)
    ) {
      // Final state or the job on screen: one GET for the full record
      // (replicas, exact times); never more than one per state change.
      void this._refreshJob(event.job_id);
    }
    if (outcome === 'finished') {
      this._notify(event.job_id);
    }
    if (outcome !== 'stale') {
      this._render();
    }
  }

  private _notify(jobId: string): void {
    const job = this._store.get(jobId);
    if (!job) {
      return;
    }
    const text = `Job ${job.name} (${job.id}): ${job.state}${job.message ? ` (${job.message})` : ''}`;
    const options = {
      autoClose: job.state === 'Failed' ? false : (8000 as number | false),
      actions: [
        {
          label: 'Show job',
          caption: 'Open this job in the Mofang panel',
          callback: () => {
            this._options.reveal?.();
            this.show(jobId);
          }
        }
      ]
    };
    if (job.state === 'Succeeded') {
      Notification.success(text, options);
    } else if (job.state === 'Failed') {
      Notification.error(text, options);
    } else {
      Notification.info(text, options);
    }
  }

  private async _refreshJob(jobId: string): Promise<void> {
    try {
      this._store.put(await this._client.get(jobId));
    } catch {
      return; // the event already updated the state; the record can wait
    }
    this._render();
  }

  private _onConnection(state: ConnectionState): void {
    const text: Record<ConnectionState, string> = {
      connecting: 'Connecting…',
      open: 'Live',
      lost: 'Connection lost: reconnecting…',
      stopped: ''
    };
    this._connection.replaceChildren(el('span', undefined, text[state]));
    this._connection.className = `jp-MofangJobs-connection jp-mod-${state}`;
    this._connection.dataset.state = state;
    if (state === 'lost') {
      this._connection.appendChild(
        button('Retry now', () => this._stream.retryNow(), {
          className: 'jp-MofangJobs-linkButton'
        })
      );
    }
  }

  private _tick(): void {
    // Redraw times only: no request, and focus is kept in the list.
    for (const node of this.node.querySelectorAll<HTMLElement>(
      '[data-job-time]'
    )) {
      const job = this._store.get(node.dataset.jobTime ?? '');
      if (job) {
        node.textContent = this._timeText(job);
      }
    }
  }

  private _timeText(job: JobRecord): string {
    const now = Date.now();
    const age = formatAge(job.created_at, now);
    const duration = jobDuration(job, now);
    return duration ? `${age} · ran ${duration}` : age;
  }

  private _render(): void {
    if (this._selected) {
      const job = this._store.get(this._selected);
      if (job) {
        this._renderDetail(job);
        return;
      }
    }
    this._renderList();
  }

  private _renderList(): void {
    // Keep keyboard focus on the same job across re-renders.
    const focused = (document.activeElement as HTMLElement | null)?.dataset
      ?.jobId;
    this._body.replaceChildren();
    if (this._listError) {
      const error = el('p', 'jp-MofangPanel-errorMessage', this._listError);
      error.setAttribute('role', 'alert');
      this._body.appendChild(error);
      this._body.appendChild(button('Retry', () => void this._loadList(), {}));
      return;
    }
    const jobs = this._store.jobs;
    if (jobs.length === 0) {
      this._body.appendChild(
        el(
          'p',
          'jp-MofangPanel-status',
          this._loaded
            ? 'No jobs yet. Submit a notebook with the “Submit as job” button of its toolbar.'
            : 'Loading your jobs…'
        )
      );
      return;
    }
    const list = el('ul', 'jp-MofangJobs-list');
    list.setAttribute('aria-label', 'Your jobs, newest first');
    for (const job of jobs) {
      const item = el('li');
      const row = el('button', 'jp-MofangJobs-item');
      row.type = 'button';
      row.dataset.jobId = job.id;
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
      const time = el('span', 'jp-MofangJobs-meta', this._timeText(job));
      time.dataset.jobTime = job.id;
      row.appendChild(time);
      row.addEventListener('click', () => this.show(job.id));
      item.appendChild(row);
      list.appendChild(item);
    }
    this._body.appendChild(list);
    if (focused) {
      Array.from(list.querySelectorAll<HTMLElement>('[data-job-id]'))
        .find(node => node.dataset.jobId === focused)
        ?.focus();
    }
  }

  private _renderDetail(job: JobRecord): void {
    const root = el('div', 'jp-MofangJobs-detail');
    root.dataset.jobId = job.id;
    const nav = el('div', 'jp-MofangJobs-toolbar');
    const back = button('← All jobs', () => this.show(null), {
      title: 'Back to the list of jobs'
    });
    back.classList.add('jp-MofangJobs-back');
    nav.appendChild(back);
    nav.appendChild(
      button('Refresh', () => void this._refreshJob(job.id), {
        title: 'Reload this job'
      })
    );
    root.appendChild(nav);

    const title = el('div', 'jp-MofangJobs-itemTop');
    title.appendChild(el('h4', 'jp-MofangJobs-detailName', job.name));
    title.appendChild(badge(job.state));
    root.appendChild(title);

    const facts = el('dl', 'jp-MofangPanel-facts');
    const fact = (term: string, value: string): void => {
      if (value) {
        facts.appendChild(el('dt', undefined, term));
        facts.appendChild(el('dd', undefined, value));
      }
    };
    fact('Job', job.id);
    fact('Kind', job.kind);
    fact('Replicas', rolesSummary(job));
    const time = el('dd', undefined, this._timeText(job));
    time.dataset.jobTime = job.id;
    facts.appendChild(el('dt', undefined, 'Submitted'));
    facts.appendChild(time);
    fact('Reason', job.reason);
    fact('Message', job.message);
    root.appendChild(facts);

    const actions = el('div', 'jp-MofangJobs-toolbar');
    const status = el('p', 'jp-MofangJobs-actionStatus');
    status.setAttribute('role', 'status');
    if (!isTerminal(job.state)) {
      const cancel = button('Cancel job', () => {
        cancel.disabled = true;
        status.textContent = 'Cancelling…';
        this._client.cancel(job.id).then(
          record => {
            this._store.put(record);
            this._render();
          },
          reason => {
            cancel.disabled = false;
            status.textContent = `Could not cancel: ${message(reason)}`;
          }
        );
      });
      cancel.classList.add('jp-mod-warn');
      actions.appendChild(cancel);
    }
    const rerun = button(
      'Re-run',
      () => {
        rerun.disabled = true;
        status.textContent = 'Submitting…';
        this._client.submit(rerunRequest(job, newIdempotencyKey())).then(
          record => {
            this.add(record);
            this.show(record.id);
          },
          reason => {
            rerun.disabled = false;
            status.textContent = `Could not re-run: ${message(reason)}`;
          }
        );
      },
      { title: 'Submit the same notebook again with the same settings' }
    );
    actions.appendChild(rerun);
    const openFile = this._options.openFile;
    if (openFile) {
      actions.appendChild(
        button(
          'Open notebook',
          () => void openFile(`${job.folder}/notebook.ipynb`),
          { title: 'Open the notebook as it was submitted' }
        )
      );
    }
    const openFolder = this._options.openFolder;
    if (openFolder) {
      actions.appendChild(
        button('Open folder', () => void openFolder(`/${job.folder}`), {
          title: `Show ${job.folder} in the file browser`
        })
      );
    }
    root.appendChild(actions);
    root.appendChild(status);

    root.appendChild(el('h4', 'jp-MofangPanel-sectionTitle', 'Replicas'));
    const replicas = el('ul', 'jp-MofangJobs-replicas');
    for (const replica of job.replicas) {
      replicas.appendChild(this._renderReplica(job, replica));
    }
    root.appendChild(replicas);

    const logs = el('div', 'jp-MofangJobs-logs');
    root.appendChild(logs);
    this._body.replaceChildren(root);
    const replica =
      this._logReplica ?? (job.replicas[0] ? job.replicas[0].name : null);
    if (replica) {
      this._renderLogs(logs, job, replica);
    }
  }

  private _renderReplica(job: JobRecord, replica: ReplicaStatus): HTMLElement {
    const item = el('li', 'jp-MofangJobs-replica');
    item.dataset.replica = replica.name;
    const top = el('div', 'jp-MofangJobs-itemTop');
    top.appendChild(el('span', 'jp-MofangJobs-name', replica.name));
    top.appendChild(badge(replica.state));
    item.appendChild(top);
    const details: string[] = [];
    if (replica.restarts > 0) {
      details.push(`${replica.restarts} restarts`);
    }
    if (replica.exit_code !== null && replica.exit_code !== undefined) {
      details.push(`exit code ${replica.exit_code}`);
    }
    if (details.length > 0) {
      item.appendChild(el('span', 'jp-MofangJobs-meta', details.join(' · ')));
    }
    if (replica.message) {
      // Why it waits or how it ended.
      item.appendChild(
        el('p', 'jp-MofangJobs-replicaMessage', replica.message)
      );
    }
    const logs = button(
      'Logs',
      () => {
        this._logReplica = replica.name;
        this._followAbort?.abort();
        this._followAbort = null;
        this._render();
      },
      { title: `Show the output of ${replica.name}` }
    );
    logs.classList.add('jp-MofangJobs-logsButton');
    logs.setAttribute('aria-label', `Logs of ${replica.name}`);
    logs.setAttribute(
      'aria-pressed',
      String(this._logReplica === replica.name)
    );
    item.appendChild(logs);
    return item;
  }

  private _renderLogs(
    node: HTMLElement,
    job: JobRecord,
    replica: string
  ): void {
    const header = el('div', 'jp-MofangJobs-toolbar');
    header.appendChild(
      el('h4', 'jp-MofangPanel-sectionTitle', `Logs: ${replica}`)
    );
    const followLabel = el('label', 'jp-MofangJobs-follow');
    const follow = el('input');
    follow.type = 'checkbox';
    follow.checked = this._follow;
    follow.addEventListener('change', () => {
      this._follow = follow.checked;
      this._followAbort?.abort();
      this._followAbort = null;
      this._render();
    });
    followLabel.appendChild(follow);
    followLabel.appendChild(document.createTextNode(' Follow'));
    header.appendChild(followLabel);
    const download = el('a', 'jp-MofangJobs-download', 'Download');
    download.href = this._client.logsUrl(job.id, replica, false);
    download.download = `${job.id}-${replica}.log`;
    download.title = `Download the log of ${replica}`;
    header.appendChild(download);
    node.appendChild(header);

    // The <pre> survives re-renders of the detail while it streams.
    const key = `${job.id}/${replica}/${this._follow}`;
    if (this._logKey !== key || !this._logPre) {
      this._followAbort?.abort();
      this._logKey = key;
      this._logPre = el('pre', 'jp-MofangJobs-logText');
      this._logPre.tabIndex = 0;
      this._logPre.setAttribute('aria-label', `Output of ${replica}`);
      void this._streamLog(this._logPre, job.id, replica, this._follow);
    }
    node.appendChild(this._logPre);
  }

  private async _streamLog(
    pre: HTMLElement,
    jobId: string,
    replica: string,
    follow: boolean
  ): Promise<void> {
    const abort = new AbortController();
    this._followAbort = abort;
    pre.textContent = '';
    pre.setAttribute('aria-busy', 'true');
    try {
      const response = await this._client.request(
        this._client.logsUrl(jobId, replica, follow),
        { method: 'GET', signal: abort.signal, cache: 'no-store' }
      );
      const reader = response.body?.getReader();
      if (!reader) {
        pre.textContent = await response.text();
        return;
      }
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          break;
        }
        const atBottom =
          pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.appendChild(
          document.createTextNode(decoder.decode(value, { stream: true }))
        );
        if (atBottom) {
          pre.scrollTop = pre.scrollHeight;
        }
      }
      if (!pre.textContent) {
        pre.textContent = '(no output yet)';
      }
    } catch (reason) {
      if (!abort.signal.aborted) {
        pre.appendChild(
          el('span', 'jp-MofangPanel-errorMessage', `\n${message(reason)}`)
        );
      }
    } finally {
      pre.setAttribute('aria-busy', 'false');
      if (this._followAbort === abort) {
        this._followAbort = null;
      }
    }
  }

  private _options: JobsViewOptions;
  private _client: JobsClient;
  private _store = new JobStore();
  private _stream: ReconnectingEventStream;
  private _body: HTMLElement;
  private _connection: HTMLElement;
  private _selected: string | null = null;
  private _logReplica: string | null = null;
  private _logKey = '';
  private _logPre: HTMLElement | null = null;
  private _follow = true;
  private _followAbort: AbortController | null = null;
  private _clock: ReturnType<typeof setInterval> | null = null;
  private _loaded = false;
  private _listError = '';
}
