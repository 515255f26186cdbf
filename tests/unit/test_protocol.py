"""The panel's TypeScript types of the cell report (labextension/src/protocol.ts) name exactly the fields
of its Python definition (collab_reuse/report.py, tracing/steps.py's Step), with matching types; so do
the store summary's per-user figures (graph/attribution.py), and the summary's keys are the panel's."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from collab_reuse.graph import ExperimentGraph
from collab_reuse.graph.attribution import SavedBy, UserFigures
from collab_reuse.report import STEP_ADDED, STEP_NOT_REPORTED, CellReport, Totals
from collab_reuse.server.reader import empty_summary
from collab_reuse.tracing.steps import Step

PROTOCOL = Path(__file__).resolve().parents[2] / "labextension" / "src" / "protocol.ts"
#: TypeScript names of the string unions some Python ``str`` fields are
STRING_UNIONS = {"StepStatus", "ArtifactKind"}
#: fields the Experiment Graph (seq, time) and the server (why_text) add to a stored report
ADDED_LATER = {"seq": "number", "time": "number", "why_text": "string | null"}


def interfaces(source: str) -> dict[str, dict[str, tuple[str, bool]]]:
    """``interface IName { field?: type; }`` -> {IName: {field: (type, optional)}} (comments dropped)."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    out = {}
    for name, body in re.findall(r"export interface (\w+) \{(.*?)\n\}", source, flags=re.S):
        members = re.findall(r"^\s*(\w+)(\??):\s*([^;]+);", body, flags=re.M)
        out[name] = {field: (kind.strip(), bool(optional)) for field, optional, kind in members}
    return out


def ts_type(python: str) -> set[str]:
    """The TypeScript spellings a Python annotation may have."""
    nullable = python.endswith(" | None")
    base = python.removesuffix(" | None")
    spelled = {"str": {"string"} | STRING_UNIONS, "int": {"number"}, "float": {"number"}, "bool": {"boolean"},
               "list[str]": {"string[]"}, "list[Step]": {"IStep[]"}, "Totals": {"ITotals"},
               "list[dict]": {"IReason[]"}, "dict": {"IReason", "Record<string, unknown>"},
               "list[SavedBy]": {"ISavedBy[]"}}[base]
    return {f"{t} | null" for t in spelled} if nullable else spelled


@pytest.fixture(scope="module")
def ts():
    return interfaces(PROTOCOL.read_text())


@pytest.mark.parametrize("python, interface", [(Step, "IStep"), (Totals, "ITotals"), (CellReport, "ICellReport"),
                                               (UserFigures, "IUserFigures"), (SavedBy, "ISavedBy")])
def test_the_panel_types_name_the_report_fields(ts, python, interface):
    declared = dict(ts[interface])
    expected = {f.name: f.type for f in fields(python)}
    if interface == "IStep":
        expected = {k: v for k, v in expected.items() if k not in STEP_NOT_REPORTED} | STEP_ADDED
        assert declared.pop("why_text")[0] == "string | null"  # (added by the server)
    if interface == "ICellReport":
        for name, kind in ADDED_LATER.items():
            assert declared.pop(name)[0] == kind
    assert set(declared) == set(expected), f"{interface}: TypeScript only {set(declared) - set(expected)}, " \
                                           f"Python only {set(expected) - set(declared)}"
    for name, annotation in expected.items():
        assert declared[name][0] in ts_type(annotation), (interface, name, declared[name], annotation)


def test_the_panel_s_store_summary_names_the_summary_s_keys(ts, tmp_path):
    declared = set(ts["IStoreSummary"])
    graph = ExperimentGraph(tmp_path / "store")
    try:
        assert set(graph.summary()) | {"available", "reason"} == declared
    finally:
        graph.close_all()
    assert set(empty_summary(tmp_path, "why")) == declared
    assert ts["IStoreSummary"]["per_user"] == ("IUserFigures[]", False)


def test_the_parser_reads_optional_and_nullable_members():
    parsed = interfaces("export interface IX {\n  /** doc; with a semicolon */\n  a?: number | null;\n  b: string[];\n}")
    assert parsed == {"IX": {"a": ("number | null", True), "b": ("string[]", False)}}
