// The jobs part of the Mofang panel: the user's jobs and sweeps (newest
// first) kept up to date by the one events stream, and the detail of one of
// them (jobdetail.ts, sweepdetail.ts). Plain DOM like the environment part;
// the I/O is injected so the view can be driven with fakes.
import { el } from './dom';
import {
  ConnectionState,
  ReconnectingEventStream,
  ServerSentEvent
} from './events';
import { JobDetail } from './jobdetail';
import { isTerminal, jobTimeText } from './jobformat';
import { JobEvent, JobRecord, JobsClient } from './jobs';
import { renderConnection, renderList, toast } from './jobslist';
import { JobStore } from './jobstore';
import { routeEvent } from './routing';
import { SweepDetail } from './sweepdetail';
import { sweepSummary } from './sweepformat';
import { SweepEvent, SweepRecord, SweepsClient } from './sweeps';
import { SweepStore } from './sweepstore';
import { message } from './viewparts';

export interface JobsViewOptions {
  client: JobsClient;
  /** The sweeps API; without it the panel shows jobs only. */
  sweeps?: SweepsClient;
  /** Open a file (the job's notebook snapshot) in JupyterLab. */
  openFile?: (path: string) => Promise<void>;
  /** Show a folder in the file browser. */
  openFolder?: (path: string) => Promise<void>;
  /** Bring the Mofang panel to the front (from a notification). */
  reveal?: () => void;
  /** The submit dialog filled in from a job; the new job, or null. */
  editAndRerun?: (job: JobRecord) => Promise<JobRecord | null>;
  /** Save a notebook where it is open with unsaved changes (before apply best). */
  saveNotebook?: (path: string) => Promise<void>;
  /** A notebook was rewritten on disk (apply best): reload it where it is open. */
  notebookChanged?: (path: string) => Promise<void>;
}

/** How often ages and running durations are redrawn; no request is made. */
const CLOCK_MS = 5000;

type Selection = { kind: 'job' | 'sweep'; id: string };

export class JobsView {
  readonly node: HTMLElement;

  constructor(options: JobsViewOptions) {
    this._options = options;
    this._client = options.client;
    this.node = el('section', 'jp-MofangJobs');
    this.node.setAttribute('aria-label', 'Jobs and sweeps');

    const header = el('div', 'jp-MofangJobs-header');
    header.appendChild(el('h3', 'jp-MofangPanel-sectionTitle', 'Jobs'));
    this._connection = el('span', 'jp-MofangJobs-connection');
    this._connection.setAttribute('role', 'status');
    header.appendChild(this._connection);
    this.node.appendChild(header);

    this._body = el('div', 'jp-MofangJobs-body');
    this.node.appendChild(this._body);

    this._jobDetail = new JobDetail({
      client: this._client,
      back: () => this.show(null),
      refresh: jobId => this._refreshJob(jobId),
      updated: job => {
        this._store.put(job);
        this._render();
      },
      submitted: job => {
        this.add(job);
        this.show(job.id);
      },
      rerender: () => this._render(),
      timeText: job => this._timeText(job),
      editAndRerun: options.editAndRerun,
      openFile: options.openFile,
      openFolder: options.openFolder
    });
    const sweeps = options.sweeps;
    this._sweepDetail = sweeps
      ? new SweepDetail({
          client: sweeps,
          back: () => this.show(null),
          refresh: sweepId => this._refreshSweep(sweepId),
          updated: sweep => {
            this._sweeps.put(sweep, true);
            this._render();
          },
          showJob: jobId => this.show(jobId),
          saveNotebook: options.saveNotebook,
          notebookChanged: options.notebookChanged
        })
      : null;

    this._stream = new ReconnectingEventStream({
      open: async (since, signal) => {
        const response = await this._client.request(
          this._client.eventsUrl(since),
          {
            method: 'GET',
            signal,
            cache: 'no-store'
          }
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

  get sweepStore(): SweepStore {
    return this._sweeps;
  }

  /** The id of the job whose detail is shown, or null. */
  get selected(): string | null {
    return this._selected?.kind === 'job' ? this._selected.id : null;
  }

  /** The id of the sweep whose detail is shown, or null. */
  get selectedSweep(): string | null {
    return this._selected?.kind === 'sweep' ? this._selected.id : null;
  }

  /**
   * Load the lists, then follow the events from where they left off. Call once.
   */
  async start(): Promise<void> {
    this._renderList();
    this._clock = setInterval(() => this._tick(), CLOCK_MS);
    const [jobs, sweeps] = await Promise.all([
      this._loadList(),
      this._loadSweeps()
    ]);
    this._stream.start(`${jobs}:${sweeps}`);
  }

  dispose(): void {
    this._stream.stop();
    this._jobDetail.dispose();
    if (this._clock !== null) {
      clearInterval(this._clock);
    }
  }

  /** A job the user just submitted: show it without waiting for its event. */
  add(job: JobRecord): void {
    this._store.put(job);
    this._render();
  }

  /** A sweep the user just started: show it without waiting for its event. */
  addSweep(sweep: SweepRecord): void {
    this._sweeps.put(sweep, true);
    this._render();
  }

  /** Show a job's detail (from the list, a notification or a submission). */
  show(jobId: string | null): void {
    this._select(jobId ? { kind: 'job', id: jobId } : null);
    if (jobId) {
      void this._refreshJob(jobId);
    }
  }

  /** Show a sweep's detail, with its trials. */
  showSweep(sweepId: string): void {
    this._select({ kind: 'sweep', id: sweepId });
    void this._refreshSweep(sweepId);
  }

  private _select(selection: Selection | null): void {
    const same =
      this._selected?.kind === selection?.kind &&
      this._selected?.id === selection?.id;
    if (!same) {
      this._jobDetail.reset();
      this._sweepDetail?.reset();
    }
    this._selected = selection;
    this._render();
  }

  /** Loads the jobs; the number of their latest event (0 when it failed). */
  private async _loadList(): Promise<number> {
    let seq = 0;
    try {
      const { jobs, eventSeq } = await this._client.load();
      this._store.reset(jobs);
      seq = eventSeq;
      this._listError = '';
    } catch (reason) {
      this._listError = message(reason);
    }
    this._loaded = true;
    this._render();
    return seq;
  }

  private async _loadSweeps(): Promise<number> {
    if (!this._options.sweeps) {
      return 0;
    }
    try {
      const { sweeps, eventSeq } = await this._options.sweeps.list();
      this._sweeps.reset(sweeps);
      this._render();
      return eventSeq;
    } catch {
      return 0; // the stream replays the sweeps' history instead
    }
  }

  private _onEvent(sse: ServerSentEvent): void {
    const routed = routeEvent(sse);
    if (routed?.kind === 'job') {
      this._onJobEvent(routed.event);
    } else if (routed?.kind === 'sweep') {
      this._onSweepEvent(routed.event);
    }
  }

  private _onJobEvent(event: JobEvent): void {
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
      (outcome === 'changed' && this.selected === event.job_id)
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

  private _onSweepEvent(event: SweepEvent): void {
    const outcome = this._sweeps.apply(event);
    if (outcome === 'unknown') {
      // Started since the list was loaded (elsewhere, or before the POST answered).
      void this._refreshSweep(event.sweep_id);
      return;
    }
    if (outcome === 'finished') {
      this._notifySweep(event.sweep_id);
    }
    if (outcome !== 'stale') {
      this._render();
    }
  }

  private _notify(jobId: string): void {
    const job = this._store.get(jobId);
    if (!job || this._sweeps.sweepOfJob(job)) {
      return; // a trial's end is told by its sweep, not one toast per trial
    }
    const text = `Job ${job.name} (${job.id}): ${job.state}${job.message ? ` (${job.message})` : ''}`;
    toast(
      job.state,
      text,
      'Show job',
      'Open this job in the Mofang panel',
      () => {
        this._options.reveal?.();
        this.show(jobId);
      }
    );
  }

  private _notifySweep(sweepId: string): void {
    const sweep = this._sweeps.get(sweepId);
    if (!sweep) {
      return;
    }
    const text = `Sweep ${sweep.name} (${sweep.id}): ${sweep.state} · ${sweepSummary(sweep)}`;
    toast(
      sweep.state,
      text,
      'Show sweep',
      'Open this sweep in the Mofang panel',
      () => {
        this._options.reveal?.();
        this.showSweep(sweepId);
      }
    );
  }

  private async _refreshJob(jobId: string): Promise<void> {
    try {
      this._store.put(await this._client.get(jobId));
    } catch {
      return; // the event already updated the state; the record can wait
    }
    this._render();
  }

  private async _refreshSweep(sweepId: string): Promise<void> {
    const sweeps = this._options.sweeps;
    // Events of a sweep not known yet come in bursts: one GET answers them all.
    if (!sweeps || this._fetching.has(sweepId)) {
      return;
    }
    this._fetching.add(sweepId);
    try {
      this._sweeps.put(await sweeps.get(sweepId), true);
    } catch {
      return;
    } finally {
      this._fetching.delete(sweepId);
    }
    this._render();
  }

  private _onConnection(state: ConnectionState): void {
    renderConnection(this._connection, state, () => this._stream.retryNow());
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
    return jobTimeText(job, Date.now());
  }

  private _render(): void {
    // Keep keyboard focus on the same job, sweep or action across re-renders.
    const focused = (document.activeElement as HTMLElement | null)?.dataset
      ?.focusKey;
    const selected = this._selected;
    const job =
      selected?.kind === 'job' ? this._store.get(selected.id) : undefined;
    const sweep =
      selected?.kind === 'sweep' ? this._sweeps.get(selected.id) : undefined;
    if (job) {
      this._body.replaceChildren(this._jobDetail.render(job));
    } else if (sweep && this._sweepDetail) {
      this._body.replaceChildren(this._sweepDetail.render(sweep));
    } else {
      this._renderList();
    }
    if (focused) {
      Array.from(this._body.querySelectorAll<HTMLElement>('[data-focus-key]'))
        .find(node => node.dataset.focusKey === focused)
        ?.focus();
    }
  }

  private _renderList(): void {
    // Trials' jobs are shown in their sweep's table, not one row each.
    this._body.replaceChildren(
      renderList({
        jobs: this._store.jobs.filter(job => !this._sweeps.sweepOfJob(job)),
        sweeps: this._sweeps.sweeps,
        loaded: this._loaded,
        error: this._listError,
        retry: () => void this._loadList(),
        showJob: jobId => this.show(jobId),
        showSweep: sweepId => this.showSweep(sweepId),
        timeText: job => this._timeText(job)
      })
    );
  }

  private _options: JobsViewOptions;
  private _client: JobsClient;
  private _store = new JobStore();
  private _sweeps = new SweepStore();
  private _stream: ReconnectingEventStream;
  private _jobDetail: JobDetail;
  private _sweepDetail: SweepDetail | null;
  private _body: HTMLElement;
  private _connection: HTMLElement;
  private _selected: Selection | null = null;
  private _fetching = new Set<string>();
  private _clock: ReturnType<typeof setInterval> | null = null;
  private _loaded = false;
  private _listError = '';
}
