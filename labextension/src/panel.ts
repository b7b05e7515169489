import { refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  EnvironmentError,
  EnvironmentPlan,
  MountInfo,
  TemplateInfo
} from './api';
import {
  displayName,
  formatResources,
  mountBrowserPath,
  mountLabel,
  mountLevelLabel
} from './format';
import { button, el } from './dom';
import { mofangIcon } from './icon';

export interface MofangPanelOptions {
  /** Injected (rather than imported) so the panel can be driven with fakes. */
  fetchEnvironment: () => Promise<EnvironmentPlan>;
  /**
   * Opens a folder in the file browser. Left out when no file browser is
   * available; mounts are then listed as plain text instead of buttons.
   */
  openFolder?: (path: string) => Promise<void>;
  /**
   * The jobs part (its own controller, started by the plugin so that its
   * notifications work while the panel is closed). Shown above the
   * environment, which then becomes a collapsible section.
   */
  jobs?: { node: HTMLElement };
}

/**
 * Left-sidebar panel showing the Mofang environment of this server. Plain
 * Lumino + DOM: the content is small and static, so React is not needed.
 */
export class MofangPanel extends Widget {
  constructor(options: MofangPanelOptions) {
    super();
    this._fetch = options.fetchEnvironment;
    this._openFolder = options.openFolder;

    this.id = 'mofang-sidebar';
    this.addClass('jp-MofangPanel');
    this.title.icon = mofangIcon;
    // Core sidebar panels use an icon-only tab (a label would be drawn rotated
    // next to it); the visible "Mofang" title is the heading inside the panel.
    this.title.caption = 'Mofang: your environment';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Mofang');

    const header = el('div', 'jp-MofangPanel-header');
    header.appendChild(el('h2', 'jp-MofangPanel-title', 'Mofang'));
    this._refreshButton = button(
      'Refresh',
      () => {
        void this.refresh();
      },
      { icon: refreshIcon, title: 'Reload your environment' }
    );
    header.appendChild(this._refreshButton);

    // aria-live so screen readers announce "loading" / errors / new content.
    this._body = el('div', 'jp-MofangPanel-body');
    this._body.setAttribute('aria-live', 'polite');

    this.node.appendChild(header);
    if (options.jobs) {
      this.title.caption = 'Mofang: your jobs and environment';
      this.node.appendChild(options.jobs.node);
      // The environment rarely matters once the server runs: keep it one
      // click away (a native <details>, so keyboard and screen readers work).
      const details = el('details', 'jp-MofangPanel-environment');
      details.open = true;
      details.appendChild(
        el('summary', 'jp-MofangPanel-summary', 'Environment')
      );
      details.appendChild(this._body);
      this.node.appendChild(details);
    } else {
      this.node.appendChild(this._body);
    }
  }

  /** Fetch the plan again and re-render. Never rejects. */
  async refresh(): Promise<void> {
    this._started = true;
    // Only the latest request may render: a slow earlier one must not win.
    const request = ++this._request;
    this._setBusy(true);
    // Keep a shown plan on screen while reloading (no flicker); anything
    // else (first load, error, empty state) is replaced by a loading note.
    if (!this._showingPlan) {
      this._body.replaceChildren(
        el('p', 'jp-MofangPanel-status', 'Loading your environment…')
      );
    }
    let plan: EnvironmentPlan | null = null;
    let error: unknown = null;
    try {
      plan = await this._fetch();
    } catch (reason) {
      error = reason;
    }
    if (request !== this._request || this.isDisposed) {
      return;
    }
    this._setBusy(false);
    this._showingPlan = plan !== null;
    this._body.replaceChildren(
      plan ? this._renderPlan(plan) : this._renderError(error)
    );
  }

  // Load lazily: no request until the user actually opens the panel.
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._loadOnce();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._loadOnce();
    }
  }

  private _loadOnce(): void {
    if (!this._started) {
      void this.refresh();
    }
  }

  private _setBusy(busy: boolean): void {
    this._refreshButton.disabled = busy;
    this._body.setAttribute('aria-busy', String(busy));
  }

  private _renderError(error: unknown): HTMLElement {
    if (error instanceof EnvironmentError && error.notMofang) {
      // Not a failure: this server simply is not managed by Mofang.
      const empty = el('div', 'jp-MofangPanel-empty');
      empty.appendChild(
        mofangIcon.element({
          tag: 'div',
          className: 'jp-MofangPanel-emptyIcon'
        })
      );
      empty.appendChild(el('h3', undefined, 'No Mofang environment'));
      empty.appendChild(el('p', undefined, error.message));
      return empty;
    }
    const message =
      error instanceof Error && error.message ? error.message : String(error);
    const box = el('div', 'jp-MofangPanel-error');
    box.setAttribute('role', 'alert');
    box.appendChild(el('h3', undefined, 'Could not load your environment'));
    box.appendChild(el('p', 'jp-MofangPanel-errorMessage', message));
    box.appendChild(
      button(
        'Retry',
        () => {
          void this.refresh();
        },
        { icon: refreshIcon }
      )
    );
    return box;
  }

  private _renderPlan(plan: EnvironmentPlan): HTMLElement {
    const root = el('div', 'jp-MofangPanel-plan');

    const who = el('dl', 'jp-MofangPanel-facts');
    addFact(who, 'User', plan.user);
    addFact(who, 'Group', displayName(plan.group), plan.group.name);
    root.appendChild(section('Account', who));

    root.appendChild(section('Template', renderTemplate(plan.template)));
    root.appendChild(
      section(
        'Resources',
        el(
          'p',
          'jp-MofangPanel-resources',
          formatResources(plan.resources, plan.gpu) || 'None'
        )
      )
    );

    if (plan.mounts.length > 0) {
      const list = el('ul', 'jp-MofangPanel-mounts');
      for (const mount of plan.mounts) {
        const item = el('li');
        item.appendChild(this._renderMount(mount));
        list.appendChild(item);
      }
      root.appendChild(section('Folders', list));
    }

    if (plan.corrections.length > 0) {
      // Tell users why they got less than they asked for.
      const notes = el('ul', 'jp-MofangPanel-corrections');
      for (const text of plan.corrections) {
        notes.appendChild(el('li', undefined, text));
      }
      root.appendChild(section('Adjusted to fit your group’s limits', notes));
    }

    if (plan.backend) {
      root.appendChild(
        el('p', 'jp-MofangPanel-footer', `Backend: ${plan.backend}`)
      );
    }
    return root;
  }

  private _renderMount(mount: MountInfo): HTMLElement {
    const label = mountLabel(mount);
    const open = this._openFolder;
    let node: HTMLElement;
    if (open) {
      const button = el('button', 'jp-MofangPanel-mount');
      button.type = 'button';
      button.title = `Open ${label} in the file browser`;
      button.addEventListener('click', () => {
        void open(mountBrowserPath(mount));
      });
      node = button;
    } else {
      node = el('div', 'jp-MofangPanel-mount');
    }
    node.appendChild(el('span', 'jp-MofangPanel-mountPath', label));
    const meta = el('span', 'jp-MofangPanel-mountMeta', mountLevelLabel(mount));
    if (mount.read_only) {
      meta.appendChild(el('span', 'jp-MofangPanel-badge', 'read-only'));
    }
    node.appendChild(meta);
    return node;
  }

  private _fetch: () => Promise<EnvironmentPlan>;
  private _openFolder: ((path: string) => Promise<void>) | undefined;
  private _body: HTMLDivElement;
  private _refreshButton: HTMLButtonElement;
  private _request = 0;
  private _started = false;
  private _showingPlan = false;
}

function section(heading: string, content: HTMLElement): HTMLElement {
  const node = el('section', 'jp-MofangPanel-section');
  node.appendChild(el('h3', 'jp-MofangPanel-sectionTitle', heading));
  node.appendChild(content);
  return node;
}

function addFact(
  list: HTMLElement,
  term: string,
  value: string,
  hint?: string
): void {
  list.appendChild(el('dt', undefined, term));
  const dd = el('dd', undefined, value);
  if (hint && hint !== value) {
    dd.title = hint;
  }
  list.appendChild(dd);
}

function renderTemplate(template: TemplateInfo): HTMLElement {
  const node = el('div', 'jp-MofangPanel-template');
  node.appendChild(
    el('div', 'jp-MofangPanel-templateName', displayName(template))
  );
  if (template.description) {
    node.appendChild(el('p', 'jp-MofangPanel-muted', template.description));
  }
  if (template.frameworks.length > 0) {
    const chips = el('ul', 'jp-MofangPanel-chips');
    chips.setAttribute('aria-label', 'Frameworks');
    for (const name of template.frameworks) {
      chips.appendChild(el('li', 'jp-MofangPanel-chip', name));
    }
    node.appendChild(chips);
  }
  if (template.image) {
    // Images are long registry refs; <code> + CSS word-break keeps them readable.
    node.appendChild(el('code', 'jp-MofangPanel-image', template.image));
  }
  return node;
}
