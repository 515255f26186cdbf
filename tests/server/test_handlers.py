"""The REST endpoints under /collab-reuse/, against a store filled through the engine's API."""

from __future__ import annotations

import json
import threading

import pytest
from tornado.httpclient import HTTPClientError

from collab_reuse.server.reader import StoreReader, normalize_report

from collab_reuse.team import os_user

SERVER_USER = os_user().name  # the account the test server runs as (as conftest's record_run writes)


async def get(jp_fetch, endpoint: str, **params) -> dict:
    response = await jp_fetch("collab-reuse", endpoint, params={k: str(v) for k, v in params.items()})
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def test_summary_of_a_store_nothing_was_traced_into_says_so(jp_fetch, store_dir):
    summary = await get(jp_fetch, "summary")
    assert summary["available"] is False
    assert "Nothing has been traced" in summary["reason"]
    assert summary["store_dir"] == str(store_dir)
    assert summary["artifacts"] == 0 and summary["top_artifacts"] == []
    assert not store_dir.exists(), "a read must not create the store"


async def test_events_and_artifacts_of_a_missing_store_are_empty(jp_fetch, store_dir):
    assert await get(jp_fetch, "events", kernel_id="k1") == {"items": [], "last_seq": 0, "more": False}
    page = await get(jp_fetch, "artifacts")
    assert page["total"] == 0 and page["items"] == []


def _alice_computes_bob_reuses(graph, record_run, step):
    """Alice computes a read and a groupby; Bob reuses both; the groupby (4 KB) is stored."""
    record_run(kernel_id="k1", cell_id="c1", user="alice",
               steps=[step("a1", "pandas.read_csv", "computed", seconds=2.0),
                      step("a2", "DataFrame.groupby", "computed", inputs=["a1"], seconds=5.0)])
    record_run(kernel_id="k2", cell_id="c9", user="bob",
               steps=[step("a1", "pandas.read_csv", "reused", seconds=0.1, saved=1.9),
                      step("a2", "DataFrame.groupby", "reused", inputs=["a1"], seconds=0.1, saved=4.9)],
               reuse=[("alice", 2, 6.8)])
    graph.begin_write("a2", {"blob-a2": 4096})
    graph.finish_write("a2", {"blob-a2": 4096}, "alice")


async def test_summary_reports_usage_hit_rate_and_top_artifacts(jp_fetch, graph, record_run, step):
    _alice_computes_bob_reuses(graph, record_run, step)

    summary = await get(jp_fetch, "summary")

    assert summary["available"] is True
    assert summary["used_bytes"] == 4096
    assert summary["budget_bytes"] == 10_000_000
    assert summary["artifacts"] == 2 and summary["materialized"] == 1
    assert summary["hits"] == 2 and summary["misses"] == 2
    assert summary["hit_rate"] == pytest.approx(0.5)
    assert summary["saved_seconds"] == pytest.approx(6.8)
    assert summary["users"] == ["alice", "bob"]
    [top] = summary["top_artifacts"]
    assert top["id"] == "a2" and top["op"] == "DataFrame.groupby" and top["materialized"] is True
    assert sorted(top["users"]) == ["alice", "bob"]
    bob, alice = summary["per_user"]  # who saved time by whose artifacts, most saved first
    assert bob == {"user": "bob", "saved_seconds": pytest.approx(6.8), "loads": 2,
                   "saved_by": [{"writer": "alice", "loads": 2, "saved_seconds": pytest.approx(6.8)}],
                   "saved_others_seconds": 0.0, "artifacts_stored": 0, "bytes_stored": 0, "artifacts_written": 0}
    assert (alice["user"], alice["saved_others_seconds"], alice["artifacts_stored"], alice["bytes_stored"]) == \
        ("alice", pytest.approx(6.8), 1, 4096)


async def test_events_are_filtered_by_kernel_oldest_first(jp_fetch, record_run, step):
    first = record_run(kernel_id="k1", cell_id="c1", steps=[step("a1", "pandas.read_csv", "computed")])
    record_run(kernel_id="k2", cell_id="c1", steps=[step("a1", "pandas.read_csv", "reused")])
    second = record_run(kernel_id="k1", cell_id="c1", execution_count=2,
                        steps=[step("a1", "pandas.read_csv", "reused", saved=1.0)])

    page = await get(jp_fetch, "events", kernel_id="k1")

    assert [e["seq"] for e in page["items"]] == [first, second]
    assert [e["steps"][0]["status"] for e in page["items"]] == ["computed", "reused"]
    assert page["last_seq"] == second and page["more"] is False
    report = page["items"][1]
    assert report["kernel_id"] == "k1" and report["cell_id"] == "c1" and report["execution_count"] == 2
    assert report["user"] == SERVER_USER and isinstance(report["time"], float)
    assert report["totals"]["reused"] == 1 and report["totals"]["saved_seconds"] == pytest.approx(1.0)


DEFERRED_REASON = "not needed yet: produced when something uses it"


async def test_deferred_steps_and_their_totals_reach_the_panel(jp_fetch, record_run, step):
    # A cell binds two lazies; a later cell uses one of them, which is then loaded (a reused step).
    record_run(kernel_id="k1", cell_id="c1",
               steps=[step("a1", "pandas.read_parquet", "deferred", seconds=0.0, reason=DEFERRED_REASON),
                      step("a2", "DataFrame.merge", "deferred", inputs=["a1"], seconds=0.0,
                           reason=DEFERRED_REASON),
                      step("a3", "DataFrame.head", "computed", seconds=0.01)])
    record_run(kernel_id="k1", cell_id="c2", execution_count=2,
               steps=[step("a2", "DataFrame.merge", "reused", inputs=["a1"], seconds=0.2, saved=3.0),
                      step("a4", "DataFrame.dropna", "deferred", inputs=["a2"], seconds=0.0,
                           reason=DEFERRED_REASON)])

    page = await get(jp_fetch, "events", kernel_id="k1")

    first, second = page["items"]
    assert [s["status"] for s in first["steps"]] == ["deferred", "deferred", "computed"]
    assert first["steps"][0]["reason"] == DEFERRED_REASON
    assert first["totals"]["deferred"] == 2 and first["totals"]["computed"] == 1
    assert second["totals"]["deferred"] == 1 and second["totals"]["reused"] == 1
    assert all(isinstance(r["totals"]["deferred"], int) for r in page["items"])
    assert sum(r["totals"]["deferred"] for r in page["items"]) == 3, "what the panel's notebook totals add up"
    summary = await get(jp_fetch, "summary")
    assert summary["hits"] == 1 and summary["misses"] == 1, "a deferred step is neither a hit nor a miss"


async def test_events_page_with_since_and_limit(jp_fetch, record_run, step):
    seqs = [record_run(kernel_id="k1", cell_id=f"c{i}", steps=[]) for i in range(5)]

    page1 = await get(jp_fetch, "events", kernel_id="k1", limit=2)
    page2 = await get(jp_fetch, "events", kernel_id="k1", since=page1["last_seq"], limit=2)
    page3 = await get(jp_fetch, "events", kernel_id="k1", since=page2["last_seq"], limit=2)

    assert [e["seq"] for e in page1["items"]] == seqs[:2] and page1["more"] is True
    assert [e["seq"] for e in page2["items"]] == seqs[2:4] and page2["more"] is True
    assert [e["seq"] for e in page3["items"]] == seqs[4:] and page3["more"] is False
    nothing_new = await get(jp_fetch, "events", kernel_id="k1", since=page3["last_seq"])
    assert nothing_new == {"items": [], "last_seq": seqs[-1], "more": False}


async def test_events_without_kernel_id_are_every_kernel_of_this_servers_user_only(jp_fetch, record_run, step):
    record_run(kernel_id="k1", cell_id="c1", steps=[])
    record_run(kernel_id="k-other", cell_id="c1", user="someone_else",
               steps=[step("a9", "pandas.read_csv", "computed")])
    record_run(kernel_id="k2", cell_id="c1", steps=[])
    page = await get(jp_fetch, "events")
    assert [e["kernel_id"] for e in page["items"]] == ["k1", "k2"]
    assert {e["user"] for e in page["items"]} == {SERVER_USER}


async def test_another_users_kernel_reports_are_not_served_even_by_its_id(jp_fetch, record_run, step):
    record_run(kernel_id="k-other", cell_id="c1", user="someone_else", steps=[step("a9", "pandas.read_csv", "computed")])
    assert await get(jp_fetch, "events", kernel_id="k-other") == {"items": [], "last_seq": 0, "more": False}


async def test_artifacts_are_paged(jp_fetch, record_run, step):
    record_run(kernel_id="k1", cell_id="c1",
               steps=[step(f"a{i}", "DataFrame.merge", "computed", seconds=float(i)) for i in range(7)])

    page = await get(jp_fetch, "artifacts", offset=5, limit=3)

    assert page["total"] == 7 and page["offset"] == 5 and page["limit"] == 3
    assert len(page["items"]) == 2
    first = await get(jp_fetch, "artifacts", limit=3)
    assert len(first["items"]) == 3
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in page["items"]})
    assert first["items"][0]["id"] == "a6", "most valuable (compute time x frequency) first"


@pytest.mark.parametrize("endpoint, params", [
    ("artifacts", {"offset": "-1"}),
    ("artifacts", {"limit": "0"}),
    ("artifacts", {"limit": "many"}),
    ("events", {"since": "x"}),
])
async def test_bad_paging_arguments_are_rejected(jp_fetch, store_dir, endpoint, params):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("collab-reuse", endpoint, params=params)
    assert err.value.code == 400


async def test_a_huge_limit_is_capped(jp_fetch, store_dir):
    page = await get(jp_fetch, "artifacts", limit=10**9)
    assert page["limit"] == 1000


@pytest.mark.parametrize("endpoint", ["summary", "artifacts", "events"])
async def test_endpoints_need_authentication(http_server_client, jp_base_url, jp_serverapp, store_dir, endpoint):
    with pytest.raises(HTTPClientError) as err:
        await http_server_client.fetch(f"{jp_base_url}collab-reuse/{endpoint}")
    assert err.value.code == 403


async def test_an_unreadable_store_is_reported_not_fatal(jp_fetch, store_dir):
    store_dir.mkdir()
    (store_dir / "graph.sqlite").write_bytes(b"this is not a SQLite database" * 100)
    summary = await get(jp_fetch, "summary")
    assert summary["available"] is False
    assert "cannot be read" in summary["reason"]


async def test_reads_run_off_the_event_loop_thread(tmp_path):
    seen: list[str] = []

    class CountingGraph:
        def summary(self):
            seen.append(threading.current_thread().name)
            return {"artifacts": 0}

    (tmp_path / "graph.sqlite").touch()
    reader = StoreReader(resolve=lambda: tmp_path, open_graph=lambda path: CountingGraph())
    try:
        summary = await reader.summary()
    finally:
        reader.close()
    assert summary["available"] is True
    assert seen and seen[0] != threading.current_thread().name
    assert seen[0].startswith("collab-reuse-rest")


def test_partial_reports_are_completed_for_the_panel():
    report = normalize_report({"seq": 3, "time": 1.0, "steps": [{"id": "a", "inputs": None}]})
    assert report["user"] == "" and report["cell_id"] is None and report["kernel_id"] is None
    [s] = report["steps"]
    assert s["inputs"] == [] and s["seconds"] == 0.0 and s["status"] == "computed" and s["reason"] is None
    assert report["totals"]["reused"] == 0 and report["totals"]["saved_seconds"] == 0.0
    assert report["totals"]["deferred"] == 0, "a report from before deferred steps still has the count"


def test_a_deferred_count_is_passed_on_as_an_int():
    report = normalize_report({"seq": 1, "time": 1.0, "steps": [],
                               "totals": {"reused": 1, "deferred": 2.0, "computed": None}})
    assert report["totals"]["deferred"] == 2 and isinstance(report["totals"]["deferred"], int)
    assert report["totals"]["computed"] == 0


def test_the_server_extension_hooks():
    import collab_reuse.server as server

    assert server._jupyter_server_extension_points() == [{"module": "collab_reuse.server"}]
    [paths] = server._jupyter_labextension_paths()
    assert paths["dest"] == "collab-reuse-panel"


async def test_a_store_made_anew_is_read_afresh(jp_fetch, store_dir, record_run, step):
    import shutil

    from collab_reuse.graph import ExperimentGraph

    record_run(kernel_id="k1", cell_id="c1", steps=[step("a1", "pandas.read_csv", "computed")])
    assert len((await get(jp_fetch, "events", kernel_id="k1"))["items"]) == 1

    shutil.rmtree(store_dir)
    fresh = ExperimentGraph(store_dir)
    try:
        assert (await get(jp_fetch, "events", kernel_id="k1"))["items"] == []
        assert (await get(jp_fetch, "summary"))["artifacts"] == 0
    finally:
        fresh.close()


async def test_the_report_is_a_page_of_what_reuse_saved_with_its_figures(jp_fetch, graph, record_run, step):
    _alice_computes_bob_reuses(graph, record_run, step)
    response = await jp_fetch("collab-reuse", "report")
    page = response.body.decode()
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<b>6.8 s</b> saved over 2 traced cells in 2 kernel sessions by 2 users; 4.1 KB stored" in page
    assert page.count('src="data:image/png;base64,') == 5  # per day, per user, per notebook, hit rate, composition
    assert "<td>DataFrame.groupby</td><td>" in page and ("alice, bob" in page or "bob, alice" in page)
    assert "<tr><td>bob</td><td>6.8 s</td><td>6.8 s by alice&#x27;s</td><td>0.0 s</td><td>0 (0 B)</td></tr>" in page
    assert "<tr><td>alice</td><td>0.0 s</td><td>–</td><td>6.8 s</td><td>1 (4.1 KB)</td></tr>" in page
    assert "default-src 'none'" not in response.headers.get("Content-Security-Policy", "")


async def test_the_report_of_a_store_nothing_was_traced_into_says_so(jp_fetch, store_dir):
    page = (await jp_fetch("collab-reuse", "report")).body.decode()
    assert "No report: Nothing has been traced into this store yet." in page
