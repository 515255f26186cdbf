"""Plotting settings a replayed cell makes again (tracing/settings.py): recorded as plain data, stored,
applied from the settings the cell started from, giving exactly the settings the cell left."""
from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from collab_reuse.store import formats  # noqa: E402
from collab_reuse.tracing import cells, settings  # noqa: E402
from collab_reuse.fingerprint.digest import Encoder  # noqa: E402


@pytest.fixture(autouse=True)
def defaults():
    matplotlib.rcdefaults()
    sns.reset_defaults()
    sns.set_color_codes("deep")  # (any state: rcdefaults does not reset the colour codes)
    matplotlib.colors.colorConverter.colors.update(matplotlib.colors.BASE_COLORS)
    yield
    matplotlib.rcdefaults()
    matplotlib.colors.colorConverter.colors.update(matplotlib.colors.BASE_COLORS)


@pytest.mark.parametrize("change", [
    lambda: sns.set(),
    lambda: sns.set_theme(style="whitegrid", palette="pastel", font_scale=1.3),
    lambda: sns.set_context("talk"),
    lambda: sns.set_palette("husl", 5),
    lambda: plt.rc("lines", linewidth=3, solid_capstyle="butt"),
    lambda: plt.rcParams.__setitem__("figure.figsize", (7, 3)),
])
def test_a_change_recorded_stored_and_applied_gives_the_settings_the_cell_left(change):
    before = settings.snapshot()
    change()
    after = settings.snapshot()
    recorded = settings.changes(before, after)
    assert isinstance(recorded, dict) and (recorded["rc"] or recorded["codes"])
    encoded = formats.encode(recorded, allow_pickle=False)  # (as the store keeps it: no pickle)
    stored = formats.decode(encoded.manifest, encoded.blobs.__getitem__, allow_pickle=False)
    matplotlib.rcdefaults()
    matplotlib.colors.colorConverter.colors.update(matplotlib.colors.BASE_COLORS)
    assert settings.changes(before, settings.snapshot()) is None  # (back where the cell started)
    settings.apply(stored)
    assert settings.changes(after, settings.snapshot()) is None
    assert settings.snapshot() == after


def test_no_change_is_none_and_a_value_the_store_cant_keep_makes_the_cell_unreplayable():
    before = settings.snapshot()
    assert settings.changes(before, settings.snapshot()) is None
    from matplotlib import patheffects

    plt.rcParams["path.effects"] = [patheffects.withStroke(linewidth=3)]
    assert settings.changes(before, settings.snapshot()) == "it sets path.effects to a value a replay can't restore"


def test_a_cells_identity_depends_on_the_colour_codes():
    def environment() -> str:
        enc = Encoder(lambda v: "x")
        cells.environment(enc)
        return enc.hexdigest()

    plain = environment()
    sns.set_color_codes("muted")
    assert environment() != plain


def test_only_the_theme_functions_count_as_settings_calls():
    assert settings.is_settings_call("seaborn.rcmod", "set_theme")
    assert settings.is_settings_call("matplotlib.pyplot", "rc")
    assert not settings.is_settings_call("matplotlib", "use")  # (switches the backend)
    assert not settings.is_settings_call("pandas", "set")
    assert settings.is_settings_object(plt.rcParams) and not settings.is_settings_object({})


@pytest.mark.parametrize("source, why", [
    ("sns.set()\nsns.kdeplot(df.a)", None),
    ("plt.rcParams['figure.figsize'] = (8, 6)\nplt.plot(df.a)", None),
    ("matplotlib.rcParams['font.size'] = 12\nplt.plot(df.a)", None),
    ("plt.style.use('ggplot')\nplt.plot(df.a)", "it calls use(), which writes or changes settings"),
    ("df['a'] = 1\nplt.plot(df.a)", "it changes df in place"),
])
def test_a_cell_changing_settings_through_theme_calls_or_rcparams_may_replay(source, why):
    import ast

    assert cells.cell_impurity(ast.parse(source)) == why


@pytest.mark.parametrize("recorded", [
    {"rc": {"backend": "agg"}, "codes": {}},  # (a replay never switches the backend)
    {"rc": {"no.such.key": 1}, "codes": {}},
    {"rc": {"lines.linewidth": "wide"}, "codes": {}},
    {"rc": {}, "codes": {"b": [0, 0]}},
    {"rc": {}, "codes": {"q": [0, 0, 1]}},
    {"rc": [], "codes": {}},
    {"rc": {}},
    "sns.set()",
])
def test_a_stored_record_that_is_not_a_settings_change_is_refused(recorded):
    assert not settings.can_apply(recorded)


def test_a_recorded_change_can_be_applied():
    before = settings.snapshot()
    sns.set()
    assert settings.can_apply(settings.changes(before, settings.snapshot())) and settings.can_apply(None)
