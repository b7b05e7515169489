import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  ToolbarButton,
  showErrorMessage
} from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { fetchEnvironment } from './api';
import { mofangIcon } from './icon';
import { JobsClient } from './jobs';
import { JobsView } from './jobsview';
import { MofangPanel } from './panel';
import { submitNotebookDialog } from './submitdialog';

/** Command id of "Submit notebook as job…". */
export const SUBMIT_COMMAND = 'mofang:submit-notebook';

/**
 * Adds the "Mofang" panel to the left sidebar: the user's jobs, kept up to
 * date by the server's event stream, and the environment. The file browser
 * and the notebook tracker are optional so the panel still works in front
 * ends without them.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'mofang-lab:sidebar',
  description:
    'Shows the Mofang jobs and environment; submits notebooks as jobs.',
  autoStart: true,
  optional: [
    IDefaultFileBrowser,
    ILayoutRestorer,
    INotebookTracker,
    ICommandPalette
  ],
  activate: (
    app: JupyterFrontEnd,
    browser: IDefaultFileBrowser | null,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    palette: ICommandPalette | null
  ): void => {
    const openFolder = browser
      ? async (path: string): Promise<void> => {
          try {
            await browser.model.cd(path);
            // The browser shares the left area with this panel: switch to it
            // so the user sees the folder they asked for.
            app.shell.activateById(browser.id);
          } catch (reason) {
            // e.g. the project folder has not been created yet.
            await showErrorMessage(
              'Cannot open folder',
              reason instanceof Error ? reason : String(reason)
            );
          }
        }
      : undefined;

    const client = new JobsClient(app.serviceManager.serverSettings);
    const jobs = new JobsView({
      client,
      openFolder,
      openFile: async (path: string): Promise<void> => {
        await app.commands.execute('docmanager:open', { path });
      },
      reveal: () => app.shell.activateById(panel.id)
    });
    const panel = new MofangPanel({
      fetchEnvironment: () =>
        fetchEnvironment(app.serviceManager.serverSettings),
      openFolder,
      jobs
    });
    app.shell.add(panel, 'left', { rank: 200 });
    // Remembers whether the panel was the open sidebar across reloads.
    restorer?.add(panel, panel.id);
    // Jobs are followed from the start, not when the panel opens: a job that
    // finishes while the panel is closed still gets its notification.
    void app.restored.then(() => jobs.start());

    if (!notebooks) {
      return;
    }
    const submit = async (notebook: NotebookPanel): Promise<void> => {
      const context = notebook.context;
      const job = await submitNotebookDialog({
        notebook: context.path,
        save: async () => {
          if (context.model.dirty) {
            await context.save();
          }
        },
        submit: request => client.submit(request)
      });
      if (job) {
        jobs.add(job);
        jobs.show(job.id);
        app.shell.activateById(panel.id);
      }
    };
    app.commands.addCommand(SUBMIT_COMMAND, {
      label: 'Submit notebook as job…',
      caption: 'Save this notebook and run a snapshot of it as a Mofang job',
      icon: args => (args.toolbar ? mofangIcon : undefined),
      isEnabled: () => notebooks.currentWidget !== null,
      execute: async () => {
        const current = notebooks.currentWidget;
        if (current) {
          await submit(current);
        }
      }
    });
    palette?.addItem({ command: SUBMIT_COMMAND, category: 'Mofang' });
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (notebook: NotebookPanel) => {
        const button = new ToolbarButton({
          icon: mofangIcon,
          label: 'Submit as job',
          tooltip: 'Submit notebook as job…',
          className: 'jp-MofangSubmitButton',
          onClick: () => {
            void submit(notebook);
          }
        });
        notebook.toolbar.insertItem(10, 'mofangSubmit', button);
        return button;
      }
    });
  }
};

export default plugin;
