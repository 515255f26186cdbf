// The panel's model (src/model.ts, compiled to lib/model.js) with a data source the test controls:
// paging through a kernel's reports, following notebooks, kernels and cells, totals, folding
// concurrent refreshes into one more, and errors. Run: node --import ./test/register.mjs --test test/
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ReuseModel } from '../lib/model.js';

function totals(reused, computed) {
  return {
    reused, computed, warm_started: 0, not_reusable: 0, deferred: 0,
    seconds: 1, saved_seconds: reused * 2, bytes_read: 0, bytes_written: 0
  };
}

function report(seq, kernel, cell, reused = 0, computed = 1) {
  return {
    seq, time: seq, kernel_id: kernel, user: 'u', cell_id: cell, execution_count: seq,
    steps: [], totals: totals(reused, computed)
  };
}

/** Reports per kernel, served `pageSize` at a time after `since`; every call recorded. */
function source(reportsByKernel, pageSize = 2) {
  const calls = [];
  let summaries = 0;
  return {
    calls,
    fail: null,
    async fetchEvents(kernelId, since) {
      calls.push(['events', kernelId, since]);
      if (this.fail) {
        throw new Error(this.fail);
      }
      const all = (reportsByKernel[kernelId] ?? []).filter(r => r.seq > since);
      const items = all.slice(0, pageSize);
      return { items, last_seq: items.length ? items[items.length - 1].seq : since, more: all.length > pageSize };
    },
    async fetchSummary() {
      calls.push(['summary']);
      summaries += 1;
      return { available: true, store_dir: '/s', used_bytes: 0, budget_bytes: 1, artifacts: summaries,
        materialized: 0, hits: 0, misses: 0, hit_rate: 0, saved_seconds: 0, users: [], top_artifacts: [] };
    },
    async fetchArtifacts(offset, limit) {
      calls.push(['artifacts', offset, limit]);
      return { total: 0, offset, limit, items: [] };
    }
  };
}

test('a kernel\'s reports are fetched page by page, each once', async () => {
  const data = source({ k1: [report(1, 'k1', 'a'), report(2, 'k1', 'b'), report(3, 'k1', 'a')] });
  const model = new ReuseModel(data);
  model.setNotebook('nb', 'Untitled.ipynb');
  model.setKernel('k1');
  await model.refresh();
  assert.deepEqual(model.notebookReports().map(r => r.seq), [1, 2, 3]);
  assert.deepEqual(data.calls.filter(c => c[0] === 'events'), [['events', 'k1', 0], ['events', 'k1', 2]]);
  await model.refresh();  // nothing new: asked from the last sequence number seen
  assert.deepEqual(data.calls.filter(c => c[0] === 'events').at(-1), ['events', 'k1', 3]);
  assert.equal(model.notebookReports().length, 3);
});

test('a cell\'s runs and the notebook\'s totals come from every kernel the notebook had', async () => {
  const data = source({ k1: [report(1, 'k1', 'a', 0, 3)], k2: [report(4, 'k2', 'a', 2, 1), report(5, 'k2', 'b', 1, 0)] });
  const model = new ReuseModel(data);
  model.setNotebook('nb', 'n.ipynb');
  model.setKernel('k1');
  model.setKernel('k2');  // a restart with another kernel: both kernels' runs are the notebook's
  await model.refresh();
  model.setActiveCell('a');
  assert.deepEqual(model.cellReports().map(r => r.seq), [1, 4]);
  const t = model.notebookTotals();
  assert.equal(t.runs, 3);
  assert.equal(t.reused, 3);
  assert.equal(t.computed, 4);
  assert.equal(t.saved_seconds, 6);
  model.setNotebook('other', 'o.ipynb');  // another notebook: none of the first one's runs
  assert.deepEqual(model.notebookReports(), []);
  assert.equal(model.kernelId, null);
});

test('refreshes asked while one runs are folded into one more', async () => {
  const data = source({ k1: [report(1, 'k1', 'a')] });
  const model = new ReuseModel(data);
  model.setNotebook('nb', 'n.ipynb');
  model.setKernel('k1');
  const runs = [model.refresh(), model.refresh(), model.refresh()];
  await Promise.all(runs);
  assert.equal(data.calls.filter(c => c[0] === 'summary').length, 2);
});

test('a failed refresh is reported, and the next successful one clears it', async () => {
  const data = source({ k1: [report(1, 'k1', 'a')] });
  const model = new ReuseModel(data);
  let changes = 0;
  model.changed.connect(() => { changes += 1; });
  model.setNotebook('nb', 'n.ipynb');
  model.setKernel('k1');
  data.fail = 'server gone';
  const warn = console.warn;
  console.warn = () => {};
  try {
    await model.refresh();
  } finally {
    console.warn = warn;
  }
  assert.equal(model.error, 'server gone');
  assert.equal(model.loaded, true);
  data.fail = null;
  await model.refresh();
  assert.equal(model.error, null);
  assert.equal(model.notebookReports().length, 1);
  assert.ok(changes >= 4);
});

test('the artifact page being browsed is fetched again when the store changes', async () => {
  const data = source({});
  const model = new ReuseModel(data);
  await model.loadArtifacts(-5);
  assert.deepEqual(data.calls.at(-1), ['artifacts', 0, 25]);
  await model.refresh();  // a new summary (the source's count changes every call)
  assert.deepEqual(data.calls.at(-1), ['artifacts', 0, 25]);
  assert.equal(model.summary.artifacts, 1);
});
