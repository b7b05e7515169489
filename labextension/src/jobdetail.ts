// The detail of one job in the Mofang panel: its facts, replicas, actions
// (cancel, re-run, edit and re-run, open) and the log of one replica,
// streamed while it runs. The panel's controller (jobsview.ts) owns the
// data; this part renders it and reports what the user asked for.
import { button, el } from './dom';
import { isTerminal, rolesSummary } from './jobformat';
import { JobRecord, JobsClient, ReplicaStatus } from './jobs';
import { badge, message } from './viewparts';
import { newIdempotencyKey, rerunRequest } from './submitform';

/** What the detail needs from the panel around it. */
export interface JobDetailHost {
  client: JobsClient;
  /** Back to the list. */
  back: () => void;
  /** Reload a job from the server and show it. */
  refresh: (jobId: string) => Promise<void>;
  /** A newer record of the job on screen (after cancel). */
  updated: (job: JobRecord) => void;
  /** A new job (a re-run) to show. */
  submitted: (job: JobRecord) => void;
  /** Render the detail again (the user picked another replica's log). */
  rerender: () => void;
  /** "3 min ago · ran 12s" */
  timeText: (job: JobRecord) => string;
  /** Opens the submit dialog filled in from the job; the new job, or null. */
  editAndRerun?: (job: JobRecord) => Promise<JobRecord | null>;
  openFile?: (path: string) => Promise<void>;
  openFolder?: (path: string) => Promise<void>;
}

export class JobDetail {
  constructor(host: JobDetailHost) {
    this._host = host;
  }

  /** Another job is shown (or none): stop following the previous log. */
  reset(): void {
    this._followAbort?.abort();
    this._followAbort = null;
    this._logReplica = null;
  }

  dispose(): void {
    this._followAbort?.abort();
  }

  /** The detail of `job`; the log view is kept across renders of the same job. */
  render(job: JobRecord): HTMLElement {
    const root = el('div', 'jp-MofangJobs-detail');
    root.dataset.jobId = job.id;
    const nav = el('div', 'jp-MofangJobs-toolbar');
    const back = button('← All jobs', () => this._host.back(), {
      title: 'Back to the list of jobs'
    });
    back.classList.add('jp-MofangJobs-back');
    back.dataset.focusKey = 'back';
    nav.appendChild(back);
    nav.appendChild(
      button('Refresh', () => void this._host.refresh(job.id), {
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
    const time = el('dd', undefined, this._host.timeText(job));
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
        this._host.client.cancel(job.id).then(
          record => this._host.updated(record),
          reason => {
            cancel.disabled = false;
            status.textContent = `Could not cancel: ${message(reason)}`;
          }
        );
      });
      cancel.classList.add('jp-mod-warn');
      cancel.dataset.focusKey = 'cancel';
      actions.appendChild(cancel);
    }
    const rerun = button(
      'Re-run',
      () => {
        rerun.disabled = true;
        status.textContent = 'Submitting…';
        this._host.client.submit(rerunRequest(job, newIdempotencyKey())).then(
          record => this._host.submitted(record),
          reason => {
            rerun.disabled = false;
            status.textContent = `Could not re-run: ${message(reason)}`;
          }
        );
      },
      { title: 'Submit the same notebook again with the same settings' }
    );
    actions.appendChild(rerun);
    const edit = this._host.editAndRerun;
    if (edit) {
      const editButton = button(
        'Edit and re-run…',
        () => {
          editButton.disabled = true;
          edit(job).then(
            record => {
              editButton.disabled = false;
              if (record) {
                this._host.submitted(record);
              }
            },
            reason => {
              editButton.disabled = false;
              status.textContent = `Could not re-run: ${message(reason)}`;
            }
          );
        },
        { title: 'Open the submit dialog with this job’s settings' }
      );
      actions.appendChild(editButton);
    }
    const openFile = this._host.openFile;
    if (openFile) {
      actions.appendChild(
        button(
          'Open notebook',
          () => void openFile(`${job.folder}/notebook.ipynb`),
          { title: 'Open the notebook as it was submitted' }
        )
      );
    }
    const openFolder = this._host.openFolder;
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
    const replica =
      this._logReplica ?? (job.replicas[0] ? job.replicas[0].name : null);
    if (replica) {
      this._renderLogs(logs, job, replica);
    }
    return root;
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
        this._host.rerender();
      },
      { title: `Show the output of ${replica.name}` }
    );
    logs.classList.add('jp-MofangJobs-logsButton');
    logs.dataset.focusKey = `logs:${replica.name}`;
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
      this._host.rerender();
    });
    followLabel.appendChild(follow);
    followLabel.appendChild(document.createTextNode(' Follow'));
    header.appendChild(followLabel);
    const download = el('a', 'jp-MofangJobs-download', 'Download');
    download.href = this._host.client.logsUrl(job.id, replica, false);
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
      const response = await this._host.client.request(
        this._host.client.logsUrl(jobId, replica, follow),
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

  private _host: JobDetailHost;
  private _logReplica: string | null = null;
  private _logKey = '';
  private _logPre: HTMLElement | null = null;
  private _follow = true;
  private _followAbort: AbortController | null = null;
}
