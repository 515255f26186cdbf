/**
 * The panel's state: which notebook, kernel and cell it follows, the cell
 * reports of that notebook's kernels, and the store summary.
 *
 * Reports are fetched incrementally (`since=` the last sequence number seen)
 * and cached per kernel, so switching notebooks back and forth is instant and
 * a report is downloaded once.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { fetchArtifacts, fetchEvents, fetchSummary } from './handler';
import {
  IArtifactPage,
  ICellReport,
  IEventPage,
  IStoreSummary,
  ITotals,
  sumTotals
} from './protocol';

/** Where the model gets its data; the REST client by default. */
export interface IReuseDataSource {
  fetchEvents(kernelId: string, since: number): Promise<IEventPage>;
  fetchSummary(): Promise<IStoreSummary>;
  fetchArtifacts(offset: number, limit: number): Promise<IArtifactPage>;
}

const REST_SOURCE: IReuseDataSource = {
  fetchEvents: (kernelId, since) => fetchEvents(kernelId, since),
  fetchSummary,
  fetchArtifacts
};

/** Artifacts per page when browsing the store. */
export const ARTIFACT_PAGE_SIZE = 25;

/** Reports of one kernel, oldest first. */
interface IKernelLog {
  reports: ICellReport[];
  lastSeq: number;
}

/** A `%%reuse plan` preview of one cell's code: what it would load and compute (the kernel's words). */
export interface IPreview {
  cellId: string;
  text: string;
  pending: boolean;
}

/** Totals of a notebook: the summed step counts plus the number of runs. */
export interface INotebookTotals extends ITotals {
  runs: number;
}

export class ReuseModel {
  constructor(source: IReuseDataSource = REST_SOURCE) {
    this._source = source;
  }

  /** Emitted whenever anything the panel shows changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** A label for the followed notebook, or null when none is active. */
  get notebookTitle(): string | null {
    return this._notebookTitle;
  }

  /** The kernel id the followed notebook is connected to, if any. */
  get kernelId(): string | null {
    return this._kernelId;
  }

  /** The model id of the active cell of the followed notebook. */
  get activeCellId(): string | null {
    return this._activeCellId;
  }

  /** The last plan preview asked for (of the active cell or another), or null. */
  get preview(): IPreview | null {
    return this._preview;
  }

  /** Show a plan preview (or that one is being made). */
  setPreview(preview: IPreview | null): void {
    this._preview = preview;
    this._changed.emit();
  }

  /** The store summary of the last successful refresh. */
  get summary(): IStoreSummary | null {
    return this._summary;
  }

  /** The error of the last refresh, or null when it succeeded. */
  get error(): string | null {
    return this._error;
  }

  /** The page of the store's artifacts being browsed, if any. */
  get artifactPage(): IArtifactPage | null {
    return this._artifactPage;
  }

  /** Load a page of all the store's artifacts (most valuable first). */
  async loadArtifacts(offset: number): Promise<void> {
    try {
      this._artifactPage = await this._source.fetchArtifacts(
        Math.max(0, offset),
        ARTIFACT_PAGE_SIZE
      );
    } catch (reason) {
      this._error = reason instanceof Error ? reason.message : String(reason);
    }
    this._changed.emit();
  }

  /** True once at least one refresh has finished. */
  get loaded(): boolean {
    return this._loaded;
  }

  /**
   * Follow a notebook.
   *
   * @param key - a stable identity of the notebook widget (its id).
   * @param title - the label to show.
   */
  setNotebook(key: string | null, title: string | null): void {
    if (key === this._notebookKey && title === this._notebookTitle) {
      return;
    }
    this._notebookKey = key;
    this._notebookTitle = title;
    this._kernelId = null;
    this._activeCellId = null;
    this._changed.emit();
  }

  /** Record the kernel the followed notebook is connected to now. */
  setKernel(kernelId: string | null): void {
    if (kernelId === this._kernelId) {
      return;
    }
    this._kernelId = kernelId;
    if (kernelId && this._notebookKey) {
      let kernels = this._notebookKernels.get(this._notebookKey);
      if (!kernels) {
        kernels = [];
        this._notebookKernels.set(this._notebookKey, kernels);
      }
      if (!kernels.includes(kernelId)) {
        kernels.push(kernelId);
      }
    }
    this._changed.emit();
  }

  /** Follow a cell of the followed notebook. */
  setActiveCell(cellId: string | null): void {
    if (cellId === this._activeCellId) {
      return;
    }
    this._activeCellId = cellId;
    this._changed.emit();
  }

  /** All reports of the followed notebook's kernels, oldest first. */
  notebookReports(): ICellReport[] {
    const kernels = this._notebookKey
      ? (this._notebookKernels.get(this._notebookKey) ?? [])
      : [];
    const reports: ICellReport[] = [];
    for (const kernelId of kernels) {
      reports.push(...(this._logs.get(kernelId)?.reports ?? []));
    }
    return reports.sort((a, b) => a.seq - b.seq);
  }

  /** The runs of one cell, oldest first. */
  cellReports(cellId: string | null = this._activeCellId): ICellReport[] {
    if (!cellId) {
      return [];
    }
    return this.notebookReports().filter(report => report.cell_id === cellId);
  }

  /** Totals over every traced run of the followed notebook. */
  notebookTotals(): INotebookTotals {
    const reports = this.notebookReports();
    return { ...sumTotals(reports), runs: reports.length };
  }

  /**
   * Fetch new reports of the followed notebook's kernels and the store
   * summary. Calls made while one is running are folded into one more run,
   * so callers may call this as often as they like.
   */
  refresh(): Promise<void> {
    if (this._refreshing) {
      this._again = true;
      return this._refreshing;
    }
    this._refreshing = this._refreshLoop().finally(() => {
      this._refreshing = null;
    });
    return this._refreshing;
  }

  private async _refreshLoop(): Promise<void> {
    do {
      this._again = false;
      await this._refreshOnce();
    } while (this._again);
  }

  private async _refreshOnce(): Promise<void> {
    const kernels = this._notebookKey
      ? [...(this._notebookKernels.get(this._notebookKey) ?? [])]
      : [];
    let error: string | null = null;
    let changed = false;
    try {
      for (const kernelId of kernels) {
        changed = (await this._fetchKernel(kernelId)) || changed;
      }
      const summary = await this._source.fetchSummary();
      if (JSON.stringify(summary) !== JSON.stringify(this._summary)) {
        this._summary = summary;
        changed = true;
        if (this._artifactPage) {
          // The store changed: refresh the page being browsed too.
          this._artifactPage = await this._source.fetchArtifacts(
            this._artifactPage.offset,
            ARTIFACT_PAGE_SIZE
          );
        }
      }
    } catch (reason) {
      error = reason instanceof Error ? reason.message : String(reason);
      console.warn('collab-reuse: refresh failed', reason);
    }
    if (error !== this._error || !this._loaded) {
      changed = true;
    }
    this._error = error;
    this._loaded = true;
    if (changed) {
      this._changed.emit();
    }
  }

  /** Fetch all new reports of a kernel; true when there were any. */
  private async _fetchKernel(kernelId: string): Promise<boolean> {
    let log = this._logs.get(kernelId);
    if (!log) {
      log = { reports: [], lastSeq: 0 };
      this._logs.set(kernelId, log);
    }
    let added = false;
    for (;;) {
      const page = await this._source.fetchEvents(kernelId, log.lastSeq);
      const fresh = page.items.filter(report => report.seq > log!.lastSeq);
      if (fresh.length > 0) {
        log.reports.push(...fresh);
        added = true;
      }
      log.lastSeq = Math.max(log.lastSeq, page.last_seq);
      if (!page.more || fresh.length === 0) {
        return added;
      }
    }
  }

  private _source: IReuseDataSource;
  private _changed = new Signal<this, void>(this);
  private _notebookKey: string | null = null;
  private _notebookTitle: string | null = null;
  private _kernelId: string | null = null;
  private _activeCellId: string | null = null;
  private _notebookKernels = new Map<string, string[]>();
  private _logs = new Map<string, IKernelLog>();
  private _summary: IStoreSummary | null = null;
  private _artifactPage: IArtifactPage | null = null;
  private _preview: IPreview | null = null;
  private _error: string | null = null;
  private _loaded = false;
  private _refreshing: Promise<void> | null = null;
  private _again = false;
}
