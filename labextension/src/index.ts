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
import { JobRecord, JobsClient } from './jobs';
import { JobsView } from './jobsview';
import { MofangPanel } from './panel';
import { submitNotebookDialog } from './submitdialog';
import { fieldsFromJob, rerunBase } from './submitform';
import { sweepNotebookDialog } from './sweepdialog';
import { SweepsClient } from './sweeps';

/** Command id of "Submit notebook as job…". */
export const SUBMIT_COMMAND = 'mofang:submit-notebook';

/** Command id of "Sweep notebook…". */
export const SWEEP_COMMAND = 'mofang:sweep-notebook';

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
    const sweeps = new SweepsClient(client);
    const editAndRerun = (job: JobRecord): Promise<JobRecord | null> =>
      submitNotebookDialog({
        notebook: job.spec.notebook,
        fields: fieldsFromJob(job),
        base: rerunBase(job),
        title: `Re-run ${job.name} with changes`,
        save: () => Promise.resolve(), // the notebook is read as it is saved now
        submit: request => client.submit(request)
      });
    // Apply best writes the notebook's file: an open copy is saved first (so
    // nothing typed is lost) and reloaded after, so that it shows the new values.
    const openNotebook = (path: string): NotebookPanel | undefined =>
      notebooks?.find(panel => panel.context.path === path);
    const saveNotebook = async (path: string): Promise<void> => {
      const open = openNotebook(path);
      if (open?.context.model.dirty) {
        await open.context.save();
      }
    };
    const notebookChanged = async (path: string): Promise<void> => {
      const open = openNotebook(path);
      if (open && !open.context.model.dirty) {
        await open.context.revert();
      }
    };
    const jobs = new JobsView({
      client,
      sweeps,
      editAndRerun,
      saveNotebook,
      notebookChanged,
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

    const sweep = async (notebook: NotebookPanel): Promise<void> => {
      const context = notebook.context;
      try {
        const created = await sweepNotebookDialog({
          notebook: context.path,
          save: async () => {
            if (context.model.dirty) {
              await context.save();
            }
          },
          describe: path => sweeps.describe(path),
          create: request => sweeps.create(request)
        });
        if (created) {
          jobs.addSweep(created);
          jobs.showSweep(created.id);
          app.shell.activateById(panel.id);
        }
      } catch (reason) {
        // The notebook cannot be swept as it is (no cell tagged "parameters", ...).
        await showErrorMessage(
          'Cannot sweep this notebook',
          reason instanceof Error ? reason : String(reason)
        );
      }
    };
    app.commands.addCommand(SWEEP_COMMAND, {
      label: 'Sweep notebook…',
      caption:
        'Search values of the variables of the cell tagged “parameters”, one job per trial',
      isEnabled: () => notebooks.currentWidget !== null,
      execute: async () => {
        const current = notebooks.currentWidget;
        if (current) {
          await sweep(current);
        }
      }
    });
    palette?.addItem({ command: SWEEP_COMMAND, category: 'Mofang' });
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
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (notebook: NotebookPanel) => {
        const button = new ToolbarButton({
          label: 'Sweep',
          tooltip: 'Sweep notebook…',
          className: 'jp-MofangSweepButton',
          onClick: () => {
            void sweep(notebook);
          }
        });
        notebook.toolbar.insertItem(11, 'mofangSweep', button);
        return button;
      }
    });
  }
};

export default plugin;
