/**
 * The sidebar panel: the selected cell's traced steps and their DAG, the
 * notebook's totals, and the shared store's state.
 *
 * A plain Lumino widget that re-renders from its model whenever the model
 * changes. All text is set through `textContent` (operation names and user
 * names come from other people's notebooks).
 */
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { renderDag } from './dag';
import {
  formatBytes,
  formatPercent,
  formatSeconds,
  formatTime
} from './format';
import { reportUrl } from './handler';
import { INotebookTotals, ReuseModel } from './model';
import {
  IArtifact,
  ICellReport,
  IStep,
  IStoreSummary,
  IUserFigures,
  STEP_STATUSES,
  StepStatus
} from './protocol';

const STATUS_LABEL: Record<StepStatus, string> = {
  reused: 'reused',
  computed: 'recomputed',
  warm_started: 'warm-started',
  not_reusable: 'not reusable',
  deferred: 'deferred (not needed yet)'
};

type Child = Node | string | null | undefined | false;

/** Create an element with a class, attributes and children. */
function h(
  tag: string,
  props: { class?: string; title?: string; [attr: string]: string | undefined } = {},
  ...children: Child[]
): HTMLElement {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined) {
      continue;
    }
    if (key === 'class') {
      node.className = value;
    } else {
      node.setAttribute(key, value);
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/** A two-column list of name/value facts. */
function facts(rows: Array<[string, string, string?]>): HTMLElement {
  const list = h('dl', { class: 'jp-CollabReuse-facts' });
  for (const [name, value, key] of rows) {
    list.appendChild(h('dt', {}, name));
    list.appendChild(h('dd', { 'data-fact': key }, value));
  }
  return list;
}

function badge(status: StepStatus): HTMLElement {
  return h(
    'span',
    { class: `jp-CollabReuse-badge jp-CollabReuse-status-${status}` },
    STATUS_LABEL[status]
  );
}

function section(title: string, cls: string, ...children: Child[]): HTMLElement {
  return h(
    'section',
    { class: `jp-CollabReuse-section ${cls}` },
    h('h3', { class: 'jp-CollabReuse-sectionTitle' }, title),
    ...children
  );
}

/** The collab_reuse sidebar panel. */
export class ReusePanel extends Widget {
  constructor(model: ReuseModel, onPreview: (() => void) | null = null) {
    super();
    this.model = model;
    this._onPreview = onPreview;
    this.id = 'collab-reuse-panel';
    this.addClass('jp-CollabReuse-panel');
    this.title.caption = 'Reuse: what was reused, recomputed and stored';
    model.changed.connect(this._render, this);
    this._render();
  }

  readonly model: ReuseModel;
  /** Asks the kernel for the active cell's plan (``%%reuse plan``); none without a notebook follower. */
  private _onPreview: (() => void) | null;
  /** Keys of the <details> boxes the user opened. */
  private _open = new Set<string>();

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model.changed.disconnect(this._render, this);
    super.dispose();
  }

  /** Refresh whenever the panel comes into view. */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.model.refresh();
  }

  private _render(): void {
    const scroll = this.node.scrollTop;
    const model = this.model;
    const content = h(
      'div',
      { class: 'jp-CollabReuse-content' },
      h('h2', { class: 'jp-CollabReuse-title' }, 'Reuse'),
      model.error
        ? h('div', { class: 'jp-CollabReuse-error' }, `Cannot reach the server: ${model.error}`)
        : null,
      this._renderCell(),
      this._renderNotebook(model.notebookTotals()),
      this._renderStore(model.summary)
    );
    this.node.replaceChildren(content);
    this.node.scrollTop = scroll;
  }

  private _renderCell(): HTMLElement {
    const model = this.model;
    if (!model.notebookTitle) {
      return section(
        'Cell',
        'jp-CollabReuse-cell',
        h('p', { class: 'jp-CollabReuse-empty' }, 'Open a notebook to see what its cells reused.')
      );
    }
    const runs = model.cellReports();
    if (runs.length === 0) {
      const hint = model.kernelId
        ? 'No traced run of this cell yet. Run it after %load_ext collab_reuse.'
        : 'The notebook has no kernel.';
      return section(
        'Cell',
        'jp-CollabReuse-cell',
        h('p', { class: 'jp-CollabReuse-empty' }, hint),
        this._renderPreview()
      );
    }
    const last = runs[runs.length - 1];
    return section(
      `Cell [${last.execution_count ?? ' '}]`,
      'jp-CollabReuse-cell',
      h(
        'p',
        { class: 'jp-CollabReuse-runLine' },
        `Last run ${formatTime(last.time)} by ${last.user}: `,
        ...this._countBadges(last)
      ),
      last.why_text ? h('p', { class: 'jp-CollabReuse-whyLine' }, last.why_text) : null,
      this._renderPlanned(last),
      this._renderPreview(),
      last.steps.length > 0
        ? this._renderSteps(last.steps, plannedActions(last.plan))
        : h('p', { class: 'jp-CollabReuse-empty' }, 'No data operations were traced in this run.'),
      last.truncated
        ? h(
            'p',
            { class: 'jp-CollabReuse-muted' },
            `${last.steps.length} steps are kept in the report: the quickest computed ones are left out.`
          )
        : null,
      last.steps.length > 0 ? h('div', { class: 'jp-CollabReuse-dagBox' }, renderDag(last.steps)) : null,
      runs.length > 1 ? this._renderHistory(runs) : null
    );
  }

  /** The `%%reuse plan` estimate made before this run, beside what the run took (none without a plan). */
  private _renderPlanned(report: ICellReport): HTMLElement | null {
    const plan = report.plan;
    if (!plan || typeof plan.seconds !== 'number') {
      return null;
    }
    const plain = typeof plan.plain_seconds === 'number' ? `, ${formatSeconds(plan.plain_seconds)} without reuse` : '';
    const unknown =
      typeof plan.unknown === 'number' && plan.unknown > 0 ? `; ${plan.unknown} steps unknown, not counted` : '';
    return h(
      'p',
      { class: 'jp-CollabReuse-plannedLine' },
      `Estimated before the run: ${formatSeconds(plan.seconds)} with reuse${plain}${unknown}. ` +
        `Took ${formatSeconds(report.totals.seconds)}.`
    );
  }

  /** The button that previews the active cell's plan, and the preview when it is of this cell. */
  private _renderPreview(): HTMLElement | null {
    if (!this._onPreview || !this.model.kernelId || !this.model.activeCellId) {
      return null;
    }
    const preview = this.model.preview;
    const shown = preview && preview.cellId === this.model.activeCellId ? preview : null;
    const button = this._button('Preview this cell (loads, computes, time)', !shown?.pending, () =>
      this._onPreview?.()
    );
    button.classList.add('jp-CollabReuse-previewButton');
    return h(
      'div',
      { class: 'jp-CollabReuse-previewBox' },
      button,
      shown ? h('pre', { class: 'jp-CollabReuse-preview' }, shown.text) : null
    );
  }

  private _countBadges(report: ICellReport): HTMLElement[] {
    const out: HTMLElement[] = [];
    for (const status of STEP_STATUSES) {
      const n = report.totals[status];
      if (n > 0) {
        const b = badge(status);
        b.textContent = `${n} ${STATUS_LABEL[status]}`;
        out.push(b);
      }
    }
    out.push(
      h(
        'span',
        { class: 'jp-CollabReuse-muted' },
        ` ${formatSeconds(report.totals.seconds)} spent, ${formatSeconds(report.totals.saved_seconds)} saved`
      )
    );
    return out;
  }

  private _renderSteps(steps: IStep[], planned: Map<string, string> = new Map()): HTMLElement {
    const list = h('ul', { class: 'jp-CollabReuse-steps' });
    for (const step of steps) {
      const io =
        step.bytes_read || step.bytes_written
          ? ` · read ${formatBytes(step.bytes_read)} · wrote ${formatBytes(step.bytes_written)}`
          : '';
      const saved = step.saved_seconds > 0 ? ` · saved ${formatSeconds(step.saved_seconds)}` : '';
      list.appendChild(
        h(
          'li',
          {
            class: 'jp-CollabReuse-step',
            'data-status': step.status,
            'data-op': step.op,
            'data-artifact-id': step.id ?? undefined,
            title: `${step.op} (${step.kind})\nartifact ${step.id ?? 'not identified'}`
          },
          h(
            'div',
            { class: 'jp-CollabReuse-stepHead' },
            badge(step.status),
            h('span', { class: 'jp-CollabReuse-op' }, step.op),
            step.mutation ? h('span', { class: 'jp-CollabReuse-muted' }, ' (in place)') : null
          ),
          h('div', { class: 'jp-CollabReuse-muted' }, `${formatSeconds(step.seconds)}${saved}${io}`),
          step.reason ? h('div', { class: 'jp-CollabReuse-reason' }, step.reason) : null,
          step.why_text ? h('div', { class: 'jp-CollabReuse-why' }, `why: ${step.why_text}`) : null,
          step.id && planned.has(step.id)
            ? h('div', { class: 'jp-CollabReuse-planned' }, `planned: ${planned.get(step.id)}`)
            : null
        )
      );
    }
    return list;
  }

  private _renderHistory(runs: ICellReport[]): HTMLElement {
    const list = h('ol', { class: 'jp-CollabReuse-history', reversed: '' });
    for (const run of [...runs].reverse()) {
      list.appendChild(
        h(
          'li',
          { class: 'jp-CollabReuse-historyRun', 'data-seq': String(run.seq) },
          `[${run.execution_count ?? ' '}] ${formatTime(run.time)} `,
          ...this._countBadges(run)
        )
      );
    }
    return this._details('history', 'jp-CollabReuse-historyBox', `All ${runs.length} runs of this cell`, list);
  }

  /** A <details> whose open state survives re-rendering. */
  private _details(key: string, cls: string, title: string, ...children: Child[]): HTMLElement {
    const box = h('details', { class: cls }, h('summary', {}, title), ...children) as HTMLDetailsElement;
    box.open = this._open.has(key);
    box.addEventListener('toggle', () => {
      if (box.open) {
        this._open.add(key);
        if (key === 'browse' && !this.model.artifactPage) {
          void this.model.loadArtifacts(0);
        }
      } else {
        this._open.delete(key);
      }
    });
    return box;
  }

  private _renderNotebook(totals: INotebookTotals): HTMLElement {
    if (!this.model.notebookTitle) {
      return h('div');
    }
    return section(
      'Notebook',
      'jp-CollabReuse-notebook',
      h('p', { class: 'jp-CollabReuse-muted' }, this.model.notebookTitle),
      facts([
        ['Traced runs', String(totals.runs), 'runs'],
        ['Steps reused', String(totals.reused), 'reused'],
        ['Warm-started', String(totals.warm_started), 'warm_started'],
        ['Recomputed', String(totals.computed), 'computed'],
        ['Not reusable', String(totals.not_reusable), 'not_reusable'],
        ['Deferred', String(totals.deferred), 'deferred'],
        ['Time spent', formatSeconds(totals.seconds), 'seconds'],
        ['Time saved', formatSeconds(totals.saved_seconds), 'saved_seconds'],
        ['Read / written', `${formatBytes(totals.bytes_read)} / ${formatBytes(totals.bytes_written)}`, 'bytes']
      ])
    );
  }

  private _renderStore(summary: IStoreSummary | null): HTMLElement {
    if (!summary) {
      return section('Store', 'jp-CollabReuse-store', h('p', { class: 'jp-CollabReuse-empty' }, 'Loading…'));
    }
    if (!summary.available) {
      return section(
        'Store',
        'jp-CollabReuse-store',
        h('p', { class: 'jp-CollabReuse-empty' }, summary.reason ?? 'The store is empty.'),
        h('p', { class: 'jp-CollabReuse-muted' }, summary.store_dir)
      );
    }
    const ratio = summary.budget_bytes > 0 ? summary.used_bytes / summary.budget_bytes : 0;
    const bar = h(
      'div',
      {
        class: 'jp-CollabReuse-bar',
        title: `${formatBytes(summary.used_bytes)} of ${formatBytes(summary.budget_bytes)}`
      },
      h('div', { class: 'jp-CollabReuse-barFill', style: `width: ${Math.min(100, ratio * 100).toFixed(1)}%` })
    );
    return section(
      'Store',
      'jp-CollabReuse-store',
      h(
        'p',
        {},
        `${formatBytes(summary.used_bytes)} of ${formatBytes(summary.budget_bytes)} used (${formatPercent(ratio)})`
      ),
      bar,
      facts([
        ['Artifacts', `${summary.artifacts} (${summary.materialized} stored)`, 'artifacts'],
        ['Hit rate', `${formatPercent(summary.hit_rate)} (${summary.hits} hits, ${summary.misses} misses)`, 'hit_rate'],
        ['Time saved', formatSeconds(summary.saved_seconds), 'store_saved_seconds'],
        ['Users', summary.users.join(', ') || '–', 'users']
      ]),
      (summary.per_user ?? []).length > 0 ? this._renderUsers(summary.per_user) : null,
      summary.top_artifacts.length > 0 ? this._renderArtifacts(summary.top_artifacts, 'Most valuable artifacts') : null,
      summary.artifacts > 0
        ? this._details('browse', 'jp-CollabReuse-browse', `Browse all ${summary.artifacts} artifacts`, this._renderBrowse())
        : null,
      h(
        'p',
        {},
        h(
          'a',
          { class: 'jp-CollabReuse-reportLink', href: reportUrl(), target: '_blank', rel: 'noopener' },
          'Open the reuse report'
        ),
        h('span', { class: 'jp-CollabReuse-muted' }, ' (time saved per day and user, hit rate, store composition)')
      ),
      h('p', { class: 'jp-CollabReuse-muted', title: 'store directory' }, summary.store_dir)
    );
  }

  /** Per user: time saved and by whose artifacts, what each stored (user names and figures only). */
  private _renderUsers(users: IUserFigures[]): HTMLElement {
    const body = h('tbody');
    for (const user of users) {
      const by = user.saved_by
        .filter(s => s.saved_seconds > 0 || s.loads > 0)
        .map(s => `${formatSeconds(s.saved_seconds)} by ${s.writer === user.user ? 'own' : `${s.writer}'s`}`);
      const others = user.saved_others_seconds > 0 ? `saved others ${formatSeconds(user.saved_others_seconds)}` : '';
      body.appendChild(
        h(
          'tr',
          {
            class: 'jp-CollabReuse-user',
            'data-user': user.user,
            title: `${user.loads} loads; ${user.artifacts_written} artifacts written`
          },
          h(
            'td',
            {},
            h('div', { class: 'jp-CollabReuse-op' }, user.user),
            h('div', { class: 'jp-CollabReuse-muted jp-CollabReuse-savedBy' }, [by.join(', '), others].filter(Boolean).join(' · ') || '–')
          ),
          h('td', { class: 'jp-CollabReuse-num', 'data-figure': 'saved' }, formatSeconds(user.saved_seconds)),
          h(
            'td',
            { class: 'jp-CollabReuse-num', 'data-figure': 'stored' },
            `${user.artifacts_stored} · ${formatBytes(user.bytes_stored)}`
          )
        )
      );
    }
    return h(
      'table',
      { class: 'jp-CollabReuse-table jp-CollabReuse-users' },
      h('caption', {}, 'Time saved per user, by whose artifacts'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'User · saved by'),
          h('th', { title: 'compute time reuse saved this user' }, 'Saved'),
          h('th', { title: 'artifacts this user stored, and their size' }, 'Stored')
        )
      ),
      body
    );
  }

  private _renderBrowse(): HTMLElement {
    const page = this.model.artifactPage;
    if (!page) {
      return h('p', { class: 'jp-CollabReuse-muted' }, 'Loading…');
    }
    const last = Math.min(page.offset + page.items.length, page.total);
    const nav = h(
      'div',
      { class: 'jp-CollabReuse-pager' },
      this._button('‹ Previous', page.offset > 0, () => this.model.loadArtifacts(page.offset - page.limit)),
      h('span', { class: 'jp-CollabReuse-muted' }, ` ${page.total ? page.offset + 1 : 0}–${last} of ${page.total} `),
      this._button('Next ›', last < page.total, () => this.model.loadArtifacts(page.offset + page.limit))
    );
    return h('div', {}, this._renderArtifacts(page.items, null), nav);
  }

  private _button(label: string, enabled: boolean, onClick: () => void): HTMLElement {
    const button = h('button', { class: 'jp-Button jp-mod-minimal jp-CollabReuse-button', type: 'button' }, label) as HTMLButtonElement;
    button.disabled = !enabled;
    button.addEventListener('click', onClick);
    return button;
  }

  private _renderArtifacts(items: IArtifact[], caption: string | null): HTMLElement {
    const body = h('tbody');
    for (const item of items) {
      body.appendChild(
        h(
          'tr',
          { class: 'jp-CollabReuse-artifact', 'data-artifact-id': item.id, title: item.id },
          h(
            'td',
            {},
            h('div', { class: 'jp-CollabReuse-op' }, item.op),
            h(
              'div',
              { class: 'jp-CollabReuse-muted' },
              `${item.kind}${item.materialized ? ', stored' : ''} · ${item.users.join(', ') || '–'}`
            )
          ),
          h('td', { class: 'jp-CollabReuse-num' }, String(item.frequency)),
          h('td', { class: 'jp-CollabReuse-num' }, formatSeconds(item.compute_seconds)),
          h('td', { class: 'jp-CollabReuse-num' }, formatBytes(item.size))
        )
      );
    }
    return h(
      'table',
      { class: 'jp-CollabReuse-table jp-CollabReuse-artifacts' },
      caption ? h('caption', {}, caption) : null,
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', {}, 'Artifact · users'),
          h('th', { title: 'how many runs used it' }, 'Uses'),
          h('th', { title: 'time to compute' }, 'Cost'),
          h('th', {}, 'Size')
        )
      ),
      body
    );
  }
}

/** What the plan made before a run said of each step, by artifact id: "load, 0.2 s" ("compute", "unknown"). */
export function plannedActions(plan: Record<string, unknown> | null | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const steps = plan && Array.isArray(plan.steps) ? (plan.steps as Record<string, unknown>[]) : [];
  for (const step of steps) {
    if (step && typeof step.id === 'string' && typeof step.action === 'string') {
      const seconds = typeof step.seconds === 'number' ? `, ${formatSeconds(step.seconds)}` : '';
      out.set(step.id, `${step.action}${seconds}`);
    }
  }
  return out;
}
