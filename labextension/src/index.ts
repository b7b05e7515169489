import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { showErrorMessage } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';

import { fetchEnvironment } from './api';
import { MofangPanel } from './panel';

/**
 * Adds the "Mofang" panel to the left sidebar. The file browser is optional
 * so the panel still works in front ends without one (mounts become text).
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'mofang-lab:sidebar',
  description: 'Shows the Mofang environment (template, resources, folders).',
  autoStart: true,
  optional: [IDefaultFileBrowser, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    browser: IDefaultFileBrowser | null,
    restorer: ILayoutRestorer | null
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

    const panel = new MofangPanel({
      fetchEnvironment: () =>
        fetchEnvironment(app.serviceManager.serverSettings),
      openFolder
    });
    app.shell.add(panel, 'left', { rank: 200 });
    // Remembers whether the panel was the open sidebar across reloads.
    restorer?.add(panel, panel.id);
  }
};

export default plugin;
