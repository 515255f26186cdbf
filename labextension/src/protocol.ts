/**
 * The wire format of the collab_reuse REST API (`/collab-reuse/...`).
 *
 * One typed module shared by the REST client (handler.ts), the model and the
 * panel. It mirrors the dicts returned by the engine's
 * `collab_reuse.graph.ExperimentGraph` read methods, wrapped by the server
 * extension in `collab_reuse/server/handlers.py`.
 */

/**
 * What happened to one traced step of a cell. A `deferred` step was bound to a
 * lazy value: it is loaded or computed only if something uses it, and then a
 * separate `reused` or `computed` step appears (possibly in a later cell).
 */
export type StepStatus = 'reused' | 'computed' | 'warm_started' | 'not_reusable' | 'deferred';

/** All statuses, in the order the panel lists them. */
export const STEP_STATUSES: ReadonlyArray<StepStatus> = [
  'reused',
  'warm_started',
  'deferred',
  'computed',
  'not_reusable'
];

/** The kind of value an artifact holds. */
export type ArtifactKind = 'dataframe' | 'series' | 'array' | 'model' | 'other';

/** One traced operation of a cell. */
export interface IStep {
  /** The artifact id of the step's result; null when it could not be identified. */
  id: string | null;
  /** Qualified operation name, e.g. `DataFrame.groupby`. */
  op: string;
  status: StepStatus;
  /** Why the step was not reused (for `not_reusable`) or not produced yet (for `deferred`), else null. */
  reason: string | null;
  seconds: number;
  saved_seconds: number;
  bytes_read: number;
  bytes_written: number;
  /** Artifact ids of the step's inputs (steps of this cell or earlier ones). */
  inputs: string[];
  kind: ArtifactKind;
  /** True for an in-place update (`df[c] = ...`, `inplace=True`); not counted in totals. */
  mutation?: boolean;
  /** The value of a model-quality metric the step computed (`roc_auc_score`, `score`, ...), else null. */
  score?: number | null;
  /** Why a computed step ran (what differs from its last run here), first reason first; else null. */
  why?: IReason[] | null;
  /** Its first reason in words (added by the server), else null. */
  why_text?: string | null;
}

/** One reason a step was computed rather than reused (`collab_reuse/planner/why.py`). */
export interface IReason {
  /** `param`, `file`, `code`, `input`, `random`, `first`, `unstorable`, `evicted`, `cheap`, ... */
  kind: string;
  /** What differs: a parameter's name, a file's path, an input step's operation, ... */
  detail: string | null;
  old?: unknown;
  new?: unknown;
}

/** Per-report totals, as computed by the engine. */
export interface ITotals {
  reused: number;
  computed: number;
  warm_started: number;
  not_reusable: number;
  /** Steps bound to a lazy value, not loaded or computed (yet). */
  deferred: number;
  seconds: number;
  saved_seconds: number;
  bytes_read: number;
  bytes_written: number;
}

/** The report of one cell execution. */
export interface ICellReport {
  /** Monotonic sequence number in the store (for `since=` paging). */
  seq: number;
  /** Unix time of the execution, seconds. */
  time: number;
  kernel_id: string;
  user: string;
  /** JupyterLab's cell model id (IPython `ExecutionInfo.cell_id`). */
  cell_id: string | null;
  execution_count: number | null;
  steps: IStep[];
  totals: ITotals;
  /** True when the cell had more steps than the report keeps. */
  truncated?: boolean;
  /** The `%%reuse plan` estimate made for this very code before it ran, else null. */
  plan?: Record<string, unknown> | null;
  /** The cell's root reason for what it recomputed, else null. */
  why?: IReason | null;
  /** That reason in words (added by the server), else null. */
  why_text?: string | null;
}

/** An artifact of the store. */
export interface IArtifact {
  id: string;
  op: string;
  kind: ArtifactKind;
  size: number;
  frequency: number;
  compute_seconds: number;
  materialized: boolean;
  users: string[];
}

/** What one writer's artifacts saved a user (`collab_reuse/graph/attribution.py`: `SavedBy`). */
export interface ISavedBy {
  /** Whose artifacts: the owner of the namespace they were loaded from. */
  writer: string;
  loads: number;
  saved_seconds: number;
}

/** One user of the store (`collab_reuse/graph/attribution.py`: `UserFigures`). */
export interface IUserFigures {
  user: string;
  /** Compute time reuse saved this user, whoever's artifacts they loaded. */
  saved_seconds: number;
  /** Artifacts their kernels loaded. */
  loads: number;
  /** `saved_seconds` split by whose artifacts, most first. */
  saved_by: ISavedBy[];
  /** What this user's artifacts saved the other users. */
  saved_others_seconds: number;
  /** Stored artifacts this user wrote, and their bytes. */
  artifacts_stored: number;
  bytes_stored: number;
  /** Artifacts the store remembers this user writing (stored, or evicted since). */
  artifacts_written: number;
}

/** `GET /collab-reuse/summary` */
export interface IStoreSummary {
  /** False when the store does not exist yet or cannot be read. */
  available: boolean;
  /** Why the store is not available, when it is not. */
  reason?: string | null;
  store_dir: string;
  used_bytes: number;
  budget_bytes: number;
  artifacts: number;
  materialized: number;
  hits: number;
  misses: number;
  hit_rate: number;
  saved_seconds: number;
  users: string[];
  top_artifacts: IArtifact[];
  /** Per user: time saved and by whose artifacts, what each stored; most time saved first. */
  per_user: IUserFigures[];
}

/** `GET /collab-reuse/artifacts?offset=&limit=` */
export interface IArtifactPage {
  total: number;
  offset: number;
  limit: number;
  items: IArtifact[];
}

/** `GET /collab-reuse/events?kernel_id=&since=&limit=` */
export interface IEventPage {
  /** Reports with `seq > since`, oldest first. */
  items: ICellReport[];
  /** The largest `seq` returned, or `since` when there was none. */
  last_seq: number;
  /** True when `limit` cut the answer: ask again with `since=last_seq`. */
  more: boolean;
}

/** Sum of the totals of many reports. */
export function sumTotals(reports: ReadonlyArray<ICellReport>): ITotals {
  const sum: ITotals = {
    reused: 0,
    computed: 0,
    warm_started: 0,
    not_reusable: 0,
    deferred: 0,
    seconds: 0,
    saved_seconds: 0,
    bytes_read: 0,
    bytes_written: 0
  };
  for (const report of reports) {
    const t = report.totals;
    sum.reused += t.reused;
    sum.computed += t.computed;
    sum.warm_started += t.warm_started;
    sum.not_reusable += t.not_reusable;
    sum.deferred += t.deferred;
    sum.seconds += t.seconds;
    sum.saved_seconds += t.saved_seconds;
    sum.bytes_read += t.bytes_read;
    sum.bytes_written += t.bytes_written;
  }
  return sum;
}
