"""What of a cell a replay runs again rather than replays (``tracing/cells.py``): its leading imports and
the undecorated functions it defines, each the only binding of its name; what is judged is the rest,
with those functions' bodies."""
import ast

from collab_reuse.tracing import cells


def _parts(source):
    tree = ast.parse(source)
    imports, definitions = cells.leading_imports(tree), cells.rerunnable_definitions(tree)
    return tree, imports, [d.name for d in definitions]


def test_leading_imports_stop_at_the_first_other_statement_and_at_a_star_import():
    assert _parts("import numpy as np\nfrom a.b import c as d\nx = 1\nimport os")[1] == 2
    assert _parts("from pylab import *\nimport os\nplot()")[1] == 0
    assert _parts("x = 1\nimport os")[1] == 0


def test_names_bound_by_imports_and_definitions_are_not_inputs():
    tree = ast.parse("import seaborn as sns\nimport matplotlib.pyplot\nfrom x import y as z\n"
                     "def f(v):\n    return g(v)\nsns.kdeplot(f(df))\nmatplotlib.pyplot.show(); z()")
    assert cells.cell_inputs(tree) == ["g", "df"]  # (``g`` is read by f's body: an input of the cell)


def test_a_definition_is_run_again_only_if_undecorated_and_its_name_bound_once():
    assert _parts("def f(x):\n    return x\nplt.plot(f(df))")[2] == ["f"]
    assert _parts("@cache\ndef f(x):\n    return x\nplt.plot(f(df))")[2] == []
    assert _parts("def f(x):\n    return x\nf = g\nplt.plot(f(df))")[2] == []
    assert _parts("def f(x):\n    return x\ndef f(x):\n    return 2\nplt.plot(f(df))")[2] == []
    assert _parts("import f\ndef f(x):\n    return x")[2] == []
    assert _parts("class A:\n    pass\nplt.plot(df)")[2] == []  # (classes are not run again: the cell runs)


def test_what_is_judged_is_the_rest_with_the_definitions_bodies():
    tree, imports, _ = _parts("import os\ndef f(ax):\n    ax.annotate('r')\nfig, ax = plt.subplots()\nf(ax)")
    judged = cells.replay_judged(tree, imports, cells.rerunnable_definitions(tree))
    assert cells.cell_impurity(judged) is None
    assert [type(s).__name__ for s in judged.body] == ["Expr", "Assign", "Expr"]
    # an effect inside the helper's body counts as the cell's
    tree, imports, _ = _parts("def f(ax):\n    open('log.txt', 'w').write('x')\nfig, ax = plt.subplots()\nf(ax)")
    why = cells.cell_impurity(cells.replay_judged(tree, imports, cells.rerunnable_definitions(tree)))
    assert why == "it calls write(), which writes or changes settings"
    # without the rules, the same cells were never replayed
    assert cells.cell_impurity(ast.parse("import os\nplt.plot(df)")) == "it imports modules"
