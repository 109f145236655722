// The MLOps panel in the left sidebar, and a status-bar item naming the run the current
// notebook's kernel is tracking. Both read the server extension (nb_mlops/server); the panel
// writes cells (Compare, Diff) into the current notebook and runs them.
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { requestAPI } from './api';
import { RunRow, activeLabel, panelPath, requestPath } from './logic';
import { MLOpsPanel } from './panel';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M3 20h18v2H3zM5 10h3v8H5zm5.5-6h3v14h-3zM16 13h3v5h-3z"/>' +
  '</svg>';

export const mlopsIcon = new LabIcon({ name: 'nb-mlops:panel', svgstr: ICON_SVG });

const STATUS_POLL_MS = 3000;

/** Insert `code` below the active cell of the current notebook and run it. */
async function insertAndRun(tracker: INotebookTracker, code: string): Promise<void> {
  const panel: NotebookPanel | null = tracker.currentWidget;
  if (!panel) {
    throw new Error('open a notebook first: the cell goes into the current notebook');
  }
  const notebook = panel.content;
  NotebookActions.insertBelow(notebook);
  const cell = notebook.activeCell;
  if (!cell) {
    throw new Error('the notebook has no active cell to insert after');
  }
  cell.model.sharedModel.setSource(code);
  await NotebookActions.run(notebook, panel.sessionContext);
}

/** The status-bar item: `tracking NAME` while the current notebook's kernel tracks a run. */
class ActiveRunItem extends Widget {
  readonly changed = new Signal<this, void>(this);

  get active(): boolean {
    return !!this.node.textContent;
  }

  constructor(private readonly tracker: INotebookTracker) {
    super();
    this.addClass('nbm-statusbar-run');
    this.node.title = 'The run the kernel of this notebook is tracking (nb-mlops)';
    this.poll();
  }

  private async poll(): Promise<void> {
    const panel = this.tracker.currentWidget;
    const kernel = panel?.sessionContext.session?.kernel?.id;
    let text = '';
    if (panel && kernel) {
      try {
        const answer = await requestAPI<{ runs: RunRow[] }>('active', {
          path: requestPath(panel.context.path),
          kernel
        });
        text = activeLabel(answer.runs);
      } catch {
        text = ''; // no store here, or the server is away: nothing to say
      }
    }
    if (text !== this.node.textContent) {
      this.node.textContent = text;
      this.changed.emit(); // the status bar shows the item only while it has something to say
    }
    if (!this.isDisposed) {
      window.setTimeout(() => this.poll(), STATUS_POLL_MS);
    }
  }
}

export const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'nb-mlops:panel',
  description: 'The MLOps side panel (runs, datasets, models) and the active run in the status bar',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILabShell, IStatusBar, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    labShell: ILabShell | null,
    statusBar: IStatusBar | null,
    files: IDefaultFileBrowser | null
  ) => {
    const panel = new MLOpsPanel({
      // the current notebook's store; with none open, the store of the folder being browsed
      path: () => panelPath(tracker.currentWidget?.context.path, files?.model.path),
      insertAndRun: code => insertAndRun(tracker, code)
    });
    panel.title.icon = mlopsIcon;
    panel.title.label = labShell ? '' : 'MLOps';
    app.shell.add(panel, 'left', { rank: 600 });
    const follow = () => {
      if (panel.isVisible) {
        void panel.refresh(true);
      }
    };
    tracker.currentChanged.connect(follow);
    files?.model.pathChanged.connect(() => {
      if (!tracker.currentWidget) {
        follow(); // only while no notebook decides
      }
    });
    app.restored.then(() => panel.refresh(true));
    if (statusBar) {
      const item = new ActiveRunItem(tracker);
      statusBar.registerStatusItem('nb-mlops:active-run', {
        item,
        align: 'left',
        rank: 4,
        isActive: () => item.active,
        activeStateChanged: item.changed
      });
    }
  }
};
