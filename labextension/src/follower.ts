/**
 * Keeps the model on the active notebook, its kernel and its active cell, and
 * refreshes it when a cell finishes running.
 *
 * Refresh triggers: the notebook's kernel going idle (covers runs from any
 * frontend, and restarts), a cell's execution finishing, a second refresh a
 * little later (the kernel may write its report just after replying), and a
 * slow poll while the panel is visible (other users' work changes the store).
 */
import { ISessionContext } from '@jupyterlab/apputils';
import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';
import { Kernel } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';

import { ReuseModel } from './model';

export interface IFollowerOptions {
  /** Milliseconds between polls while the panel is visible. */
  pollInterval?: number;
  /**
   * Milliseconds after a cell finished for the later refreshes: the kernel
   * writes its report from a background thread, after encoding what it stores.
   */
  settleDelays?: number[];
  /** Whether the panel is on screen (no polling when it is not). */
  isVisible: () => boolean;
}

export class NotebookFollower implements IDisposable {
  constructor(
    tracker: INotebookTracker,
    model: ReuseModel,
    options: IFollowerOptions
  ) {
    this._tracker = tracker;
    this._model = model;
    this._isVisible = options.isVisible;
    this._settleDelays = options.settleDelays ?? [500, 1500, 4000];
    tracker.currentChanged.connect(this._onCurrentChanged, this);
    tracker.activeCellChanged.connect(this._onActiveCellChanged, this);
    NotebookActions.executed.connect(this._onExecuted, this);
    this._timer = window.setInterval(() => {
      if (this._isVisible()) {
        void this._model.refresh();
      }
    }, options.pollInterval ?? 5000);
    this._follow(tracker.currentWidget);
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.clearInterval(this._timer);
    this._settleTimers.forEach(timer => window.clearTimeout(timer));
    this._tracker.currentChanged.disconnect(this._onCurrentChanged, this);
    this._tracker.activeCellChanged.disconnect(this._onActiveCellChanged, this);
    NotebookActions.executed.disconnect(this._onExecuted, this);
    this._follow(null);
  }

  /**
   * Preview the active cell: its code under `%%reuse plan` in the notebook's kernel, which parses it
   * and runs none of it (the panel's own request: nothing reaches the notebook's outputs, and the
   * execution count does not move).
   */
  async previewActiveCell(): Promise<void> {
    const panel = this._panel;
    const cell = panel?.content.activeCell;
    if (!panel || !cell) {
      return;
    }
    const cellId = cell.model.id;
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel || cell.model.type !== 'code') {
      this._model.setPreview({
        cellId,
        text: kernel ? 'Only a code cell has a plan.' : 'The notebook has no kernel.',
        pending: false
      });
      return;
    }
    this._model.setPreview({ cellId, text: 'Planning…', pending: true });
    const chunks: string[] = [];
    const future = kernel.requestExecute({
      code: `%%reuse plan\n${cell.model.sharedModel.getSource()}`,
      silent: false,
      store_history: false
    });
    future.onIOPub = msg => {
      const content = msg.content as { name?: string; text?: string; ename?: string; evalue?: string };
      if (msg.header.msg_type === 'stream' && content.text) {
        chunks.push(content.text);
      } else if (msg.header.msg_type === 'error') {
        chunks.push(`${content.ename}: ${content.evalue}`);
      }
    };
    try {
      await future.done;
    } catch (reason) {
      chunks.push(String(reason));
    }
    this._model.setPreview({ cellId, text: chunks.join('').trim() || '(no plan)', pending: false });
  }

  /** Refresh now (e.g. when the panel is shown). */
  refresh(): void {
    void this._model.refresh();
  }

  private _onCurrentChanged(_: INotebookTracker, panel: NotebookPanel | null): void {
    this._follow(panel);
  }

  private _onActiveCellChanged(): void {
    const cell = this._tracker.activeCell;
    if (this._panel && cell && this._panel.content.widgets.includes(cell)) {
      this._model.setActiveCell(cell.model.id);
    }
  }

  private _onExecuted(_: unknown, args: { notebook: unknown }): void {
    if (this._panel && args.notebook === this._panel.content) {
      this._refreshSoon();
    }
  }

  private _onKernelChanged(context: ISessionContext): void {
    this._model.setKernel(context.session?.kernel?.id ?? null);
    this.refresh();
  }

  private _onStatusChanged(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'idle' || status === 'restarting') {
      this._refreshSoon();
    }
  }

  /** Refresh now and again after each settle delay. */
  private _refreshSoon(): void {
    this.refresh();
    this._settleTimers.forEach(timer => window.clearTimeout(timer));
    this._settleTimers = this._settleDelays.map(delay =>
      window.setTimeout(() => this.refresh(), delay)
    );
  }

  private _follow(panel: NotebookPanel | null): void {
    if (this._panel === panel) {
      return;
    }
    if (this._panel) {
      const old = this._panel.sessionContext;
      old.kernelChanged.disconnect(this._onKernelChanged, this);
      old.statusChanged.disconnect(this._onStatusChanged, this);
    }
    this._panel = panel;
    if (!panel || this._disposed) {
      this._model.setNotebook(null, null);
      return;
    }
    const context = panel.sessionContext;
    this._model.setNotebook(panel.id, panel.context.path);
    this._model.setKernel(context.session?.kernel?.id ?? null);
    this._model.setActiveCell(panel.content.activeCell?.model.id ?? null);
    context.kernelChanged.connect(this._onKernelChanged, this);
    context.statusChanged.connect(this._onStatusChanged, this);
    void context.ready.then(() => {
      if (this._panel === panel) {
        this._onKernelChanged(context);
      }
    });
    this.refresh();
  }

  private _tracker: INotebookTracker;
  private _model: ReuseModel;
  private _isVisible: () => boolean;
  private _settleDelays: number[];
  private _panel: NotebookPanel | null = null;
  private _timer: number;
  private _settleTimers: number[] = [];
  private _disposed = false;
}
