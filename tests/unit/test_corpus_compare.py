"""The corpus comparison's rules for notebooks whose plain runs differ (``demo/corpus.compare_runs``, on
outputs normalised as a run records them): they accept what varies between two plain runs, nothing else."""
from collab_reuse.demo.corpus import Entry, compare_runs
from collab_reuse.demo.runner import RunResult, normalize_output

TABLE = "<table>\n<tr><th>mean_fit_time</th><th>score</th></tr>\n<tr><td>{t}</td>\n<td>{s}</td></tr>\n</table>"


def _run(*cells):
    outputs = [{"cell": i, "execution_count": i + 1, "outputs": [normalize_output(o) for o in c]}
               for i, c in enumerate(cells)]
    return RunResult(path="nb.ipynb", seconds=1.0, kernel_start_seconds=0.0, notebook=None, outputs=outputs,
                     files={}, kernel_id="k", workdir=".")


def _table(t, s):
    return {"output_type": "execute_result", "data": {"text/html": TABLE.format(t=t, s=s)}}


def _stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


ENTRY = Entry("nb", {"volatile": [r"total time=\s*[\d.]+s"], "stream_lines_unordered": True,
                     "varies_between_plain_runs": True})


def test_a_line_that_varies_between_plain_runs_may_vary_and_others_may_not():
    plain, plain2 = _run([_table("0.0039", "-6.95")]), _run([_table("0.0041", "-6.95")])
    assert compare_runs(ENTRY, plain, _run([_table("0.0050", "-6.95")]), plain2) == []
    wrong_score = compare_runs(ENTRY, plain, _run([_table("0.0050", "-7.00")]), plain2)
    assert len(wrong_score) == 1 and "-7.00" in wrong_score[0]
    # without the second plain run nothing is learned: the timing is a difference
    assert compare_runs(ENTRY, plain, _run([_table("0.0050", "-6.95")]))
    # and an entry that doesn't ask for the rule gets none
    assert compare_runs(Entry("nb", {}), plain, _run([_table("0.0050", "-6.95")]), plain2)


def test_a_varying_line_lost_or_added_is_a_difference():
    plain, plain2 = _run([_table("0.0039", "-6.95")]), _run([_table("0.0041", "-6.95")])
    lost = _run([{"output_type": "execute_result",
                  "data": {"text/html": TABLE.format(t="0.0039", s="-6.95").replace("<td>0.0039</td>\n", "")}}])
    assert compare_runs(ENTRY, plain, lost, plain2)


def test_printed_lines_compare_in_any_order_but_all_must_be_there():
    plain = _run([_stream("Fitting 2 folds\n[CV] END C=1; total time=   0.1s\n[CV] END C=3; total time=   0.2s\n")])
    # two workers' lines run together on one line, in the other order, with other timings
    other = _run([_stream("Fitting 2 folds\n[CV] END C=3; total time=   0.3s[CV] END C=1; total time=   0.1s\n")])
    assert compare_runs(ENTRY, plain, other) == []
    missing = _run([_stream("Fitting 2 folds\n[CV] END C=3; total time=   0.3s\n")])
    assert compare_runs(ENTRY, plain, missing)
    assert compare_runs(Entry("nb", {"volatile": ENTRY.volatile}), plain, other)  # order counts by default


def test_printed_lines_that_arrive_after_the_cell_s_result_count_where_lines_are_unordered():
    """A CI run saw a plain run's last worker lines reach the kernel after the search's result."""
    result = _table("0.0039", "-6.95")
    plain = _run([_stream("[CV] END C=1; total time=   0.1s\n"), result, _stream("[CV] END C=3; total time=   0.2s\n")])
    other = _run([_stream("[CV] END C=3; total time=   0.2s\n[CV] END C=1; total time=   0.1s\n"), result])
    assert compare_runs(ENTRY, plain, other) == []
    assert compare_runs(ENTRY, plain, _run([_stream("[CV] END C=1; total time=   0.1s\n"), result]))  # a line lost
    assert compare_runs(ENTRY, plain, _run([_stream("[CV] END C=1; total time=   0.1s\n[CV] END C=3; total time=   "
                                                    "0.2s\n"), _table("0.0039", "-7.00")]))  # the result differs
    assert compare_runs(Entry("nb", {"volatile": ENTRY.volatile}), plain, other)  # where they arrive counts by default


def test_object_addresses_in_html_reprs_are_not_compared():
    html = "<pre>FunctionTransformer(func=&lt;function add at 0x{a}&gt;)</pre><td>&lt;sklearn.tree...x{a}&gt;</td>"
    plain = _run([{"output_type": "execute_result", "data": {"text/html": html.format(a="7f2530f70a40")}}])
    other = _run([{"output_type": "execute_result", "data": {"text/html": html.format(a="7f9b89fea200")}}])
    assert compare_runs(Entry("nb", {}), plain, other) == []
    renamed = _run([{"output_type": "execute_result",
                     "data": {"text/html": html.format(a="7f9b89fea200").replace("add", "sub")}}])
    assert compare_runs(Entry("nb", {}), plain, renamed)


FRAME = ('<table border="1" class="dataframe">\n<tr><th>mean_fit_time</th><th>score</th></tr>\n'
         '<tr>\n<td>{t0}</td>\n<td>{s0}</td>\n</tr>\n<tr>\n<td>{t1}</td>\n<td>{s1}</td>\n</tr>\n</table>')


def _frame(t0, t1, s0="-6.95", s1="-7.25"):
    return {"output_type": "execute_result", "data": {"text/html": FRAME.format(t0=t0, t1=t1, s0=s0, s1=s1)}}


def test_a_column_of_a_frame_varies_as_a_whole_though_one_value_came_out_alike():
    plain, plain2 = _run([_frame("0.0039", "0.0050")]), _run([_frame("0.0041", "0.0050")])  # 0.0050 twice
    assert compare_runs(ENTRY, plain, _run([_frame("0.0040", "0.0052")]), plain2) == []
    assert compare_runs(ENTRY, plain, _run([_frame("0.0040", "0.0052", s1="-7.30")]), plain2)  # the scores don't
