"""Notebook functions pandas calls per row run as plain twins (tracing/plain_twins.py): without the
tracing hooks, computing and failing exactly as written."""

import sys

from shells import plain_first_again

from collab_reuse.demo.runner import compare
from collab_reuse.tracing.plain_twins import plain_twin

FAILS = "def fails(x):\n    return len(x) / 0\n"  # (pandas may call it with a row, or with the whole Series)


def _code_of_fails(error):
    """The code of the ``fails`` that raised ``error`` (the rewritten one raises inside a hook it calls)."""
    tb, found = error.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "fails":
            found = tb.tb_frame.f_code
        tb = tb.tb_next
    return found


def test_pandas_calls_a_pure_notebook_function_as_its_twin_and_a_cell_calls_the_traced_one(shell):
    shell.run_cell("import pandas as pd\ns = pd.Series(['a, b', 'c, d'])\n" + FAILS)
    shell.run_cell("errors = []\nfor call in (lambda: s.apply(fails), lambda: fails('a'),\n"
                   "             lambda: s.to_frame('v').agg({'v': fails})):\n"
                   "    try:\n        call()\n    except ZeroDivisionError as e:\n        errors.append(e)")
    by_pandas, by_cell, in_agg = (_code_of_fails(e) for e in shell.user_ns["errors"])
    assert "__cr__" in by_cell.co_names, "(the function the cell defined is the rewritten one)"
    assert "__cr__" not in by_pandas.co_names
    assert "__cr__" not in in_agg.co_names, "a function in a dict argument too"


def test_two_lambdas_on_one_line_each_get_their_own_twin(shell):
    shell.run_cell("f, g = (lambda x: x + 1), (lambda x: x * 2)")
    f, g = shell.user_ns["f"], shell.user_ns["g"]
    tf, tg = plain_twin(f), plain_twin(g)
    assert tf is not f and tg is not g
    assert (tf(3), tg(3)) == (4, 6)
    assert "__cr__" not in tf.__code__.co_names + tg.__code__.co_names


def test_a_twin_keeps_the_closure_defaults_names_and_lines(shell):
    shell.run_cell("def outer(k):\n    def inner(x, m=2, *, sep=''):\n        '''doc'''\n"
                   "        return sep.join([x[k]] * m)\n    return inner\nf = outer(0)")
    f = shell.user_ns["f"]
    twin = plain_twin(f)
    assert twin is not f
    assert twin("ab") == f("ab") == "aa" and twin("ab", 3, sep="-") == "a-a-a"
    assert (twin.__name__, twin.__qualname__, twin.__doc__, twin.__defaults__, twin.__kwdefaults__) == \
        (f.__name__, f.__qualname__, f.__doc__, f.__defaults__, f.__kwdefaults__)
    assert twin.__code__.co_firstlineno == f.__code__.co_firstlineno and twin.__code__.co_filename == f.__code__.co_filename


def test_a_function_with_an_effect_keeps_its_hooks(shell):
    """What it changes outside is followed by the rewritten code only (and its call is not reused)."""
    shell.run_cell("import pandas as pd\nseen = []\ndef log(x):\n    seen.append(x)\n    return x\n"
                   "s = pd.Series([1, 2])\nr = s.apply(log)")
    log = shell.user_ns["log"]
    assert plain_twin(log) is log
    assert shell.user_ns["seen"] == [1, 2]


def test_a_function_defined_outside_the_notebook_is_itself():
    assert plain_twin(test_a_function_defined_outside_the_notebook_is_itself) is \
        test_a_function_defined_outside_the_notebook_is_itself
    assert sys.modules[__name__]


CELLS = [
    "import pandas as pd\nnames = pd.Series([f'Doe, Mr. John{i}' if i % 3 else f'Roe, Mrs. Jane{i}' for i in range(3000)])",
    "def title(name):\n    return name.split(',')[1].split('.')[0].strip()\n"
    "titles = names.apply(title)\ntitles.value_counts()",
    "names.map(lambda n: len(n)).describe()",
    "names.apply(lambda n: n.split(',')[5])",  # raises IndexError in the twin: the same traceback
    "titles.groupby(titles).agg(lambda g: g.str.len().sum())",
]


def test_a_notebook_with_twins_shows_what_the_plain_run_shows_errors_included(tmp_path):
    plain, first, again, _ = plain_first_again(tmp_path, CELLS)
    assert [o["output_type"] for o in plain.outputs[3]["outputs"]] == ["error"]
    assert compare(plain, first) == []
    assert compare(plain, again) == []
