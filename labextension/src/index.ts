import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';

import { NotebookFollower } from './follower';
import { reuseIcon } from './icon';
import { ReuseModel } from './model';
import { ReusePanel } from './panel';

/** The command that opens the panel. */
const OPEN_COMMAND = 'collab-reuse:open-panel';
/** The command that previews the active cell's plan. */
const PREVIEW_COMMAND = 'collab-reuse:preview-cell';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'collab-reuse-panel:plugin',
  description:
    'A sidebar panel showing which steps of each cell collab_reuse reused or recomputed, and the shared store.',
  autoStart: true,
  requires: [INotebookTracker, ILabShell],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    shell: ILabShell,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const model = new ReuseModel();
    let follower: NotebookFollower | null = null;
    const panel = new ReusePanel(model, () => void follower?.previewActiveCell());
    panel.title.icon = reuseIcon;
    follower = new NotebookFollower(tracker, model, {
      isVisible: () => panel.isVisible
    });
    panel.disposed.connect(() => follower?.dispose());

    shell.add(panel, 'right', { rank: 600 });
    restorer?.add(panel, 'collab-reuse-panel');

    app.commands.addCommand(OPEN_COMMAND, {
      label: 'Show collab_reuse panel',
      caption: 'Which steps of each cell were reused, and what the store holds',
      icon: reuseIcon,
      execute: () => {
        shell.activateById(panel.id);
        follower?.refresh();
      }
    });
    app.commands.addCommand(PREVIEW_COMMAND, {
      label: 'Preview the active cell with collab_reuse',
      caption: 'What running the active cell would load and compute, and the estimated time (runs nothing)',
      icon: reuseIcon,
      execute: () => {
        shell.activateById(panel.id);
        return follower?.previewActiveCell();
      }
    });
    palette?.addItem({ command: OPEN_COMMAND, category: 'collab_reuse' });
    palette?.addItem({ command: PREVIEW_COMMAND, category: 'collab_reuse' });
  }
};

export default plugin;
