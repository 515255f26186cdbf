"""Deterministic synthetic data with the schema of Kaggle's *Home Credit Default Risk*.

    python -m collab_reuse.demo.generate --out DIR --scale S --seed 0

writes ``application_train.csv``, ``application_test.csv``, ``bureau.csv`` and
``bureau_balance.csv`` into DIR.  Table names, keys and the main columns are the
real competition's; values are drawn from simple distributions chosen so that
the notebooks of ``notebooks/`` meet the same quirks as on the real data (the
365243 ``DAYS_EMPLOYED`` anomaly, missing ``EXT_SOURCE_*``, a ``CODE_GENDER``
level and a ``NAME_INCOME_TYPE`` level present only in the training table, so
one-hot encodings need ``align``) and so that ``TARGET`` depends on
``EXT_SOURCE_*``, ``DAYS_BIRTH``, the employment anomaly and the bureau debt
(a LightGBM model reaches a ROC AUC of about 0.7).

Sizes are linear in ``scale``: 3,000 training and 500 test applicants per unit
of scale, about 5 bureau loans per applicant and about 12 monthly balance rows
per bureau loan (scale 1: ~3.5k applicants, ~17k bureau rows, ~0.2M balance
rows, about 1.5 s to generate).  Everything is vectorised numpy; the same
``(scale, seed)`` gives byte-identical files.

Plain run times of the demo notebooks (fresh kernel, cell execution only,
kernel start excluded; 2 cores shared with other work, so treat them as
rough), measured with ``python -m collab_reuse.demo --plain-only --scale S``::

    scale  rows (train/bureau/balance)   generate  01_introduction  02_feature_engineering  load avg
    1      3.0k / 18k / 0.21M             ~1.5 s    ~7 s             ~20 s                   ~2
    10     30k / 178k / 2.1M              ~10 s     ~40 s            ~78 s                   ~2
    30     90k / 534k / 6.3M              ~27 s     ~404 s           ~333 s                  ~6-7

The feature-engineering notebook grows roughly linearly with the scale
(bureau_balance aggregation, the correlation matrix and two 5-fold LightGBM
models dominate; about 8 s per unit of scale on an idle machine, ~11 s under
load); the introduction notebook grows faster than linearly (two
100-tree random forests).  ``--scale 30`` makes both plain runs take well
over three minutes (extrapolating the idle scale-10 figure, about 25 is the
smallest scale that keeps 02_feature_engineering above three minutes on an
idle 2-core machine; not measured).
