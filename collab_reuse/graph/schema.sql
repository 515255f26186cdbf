-- The Experiment Graph of one store, shared by every kernel that uses it.
-- Vertices are artifacts; the operation producing one is on its row (op, inputs).
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS artifacts(
  id TEXT PRIMARY KEY,
  op TEXT NOT NULL,
  kind TEXT NOT NULL,
  inputs TEXT NOT NULL DEFAULT '[]',        -- JSON list of input artifact ids
  size INTEGER NOT NULL DEFAULT 0,          -- bytes of the encoded value (all its blobs)
  compute_seconds REAL NOT NULL DEFAULT 0,  -- running mean of the producing operation's run time
  runs INTEGER NOT NULL DEFAULT 0,
  frequency INTEGER NOT NULL DEFAULT 0,     -- workloads (cells) that used it
  quality REAL,                             -- model score, when the notebook computed one
  state INTEGER NOT NULL DEFAULT 0,         -- 0 not stored, 1 being written, 2 materialized
  load_seconds REAL,                        -- last measured load time
  storable INTEGER NOT NULL DEFAULT 1,      -- 0 when encoding failed (reason in note)
  note TEXT,
  created REAL NOT NULL,
  last_used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_state ON artifacts(state);
CREATE TABLE IF NOT EXISTS artifact_blobs(artifact_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY(artifact_id, key));
CREATE INDEX IF NOT EXISTS artifact_blobs_key ON artifact_blobs(key);
CREATE TABLE IF NOT EXISTS blobs(key TEXT PRIMARY KEY, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS usage(artifact_id TEXT NOT NULL, user TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(artifact_id, user));
CREATE TABLE IF NOT EXISTS random_ops(op_id TEXT PRIMARY KEY);   -- operations seen to draw from the global RNG
CREATE TABLE IF NOT EXISTS files(stat_key TEXT PRIMARY KEY, digest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS stored_log(seq INTEGER PRIMARY KEY AUTOINCREMENT, artifact_id TEXT NOT NULL);
-- operations seen finishing with no output, warning or randomness, and the class of their result:
-- a later run may defer them (run them only if their result is needed)
CREATE TABLE IF NOT EXISTS quiet_ops(seq INTEGER PRIMARY KEY AUTOINCREMENT, op_id TEXT NOT NULL UNIQUE,
  value_type TEXT NOT NULL, seconds REAL NOT NULL DEFAULT 0);
-- fitted forests by everything but their tree count: a larger forest may be grown from a stored one
CREATE TABLE IF NOT EXISTS forests(key TEXT NOT NULL, n_estimators INTEGER NOT NULL, artifact_id TEXT NOT NULL,
  PRIMARY KEY(key, n_estimators));
-- artifacts being written (state 1) and by whom: a claim of a process that died, or older than any
-- writer may run, is abandoned and undone by repair (collab-reuse gc, and each kernel's start)
CREATE TABLE IF NOT EXISTS writes(artifact_id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
  started REAL NOT NULL);
-- (each user's cell reports and call summaries are in their own journal: graph/journal.py)
-- artifacts the materializer evicted to keep the budget, and when (a recomputation can say so)
CREATE TABLE IF NOT EXISTS evictions(artifact_id TEXT PRIMARY KEY, time REAL NOT NULL);
-- the materializer's last decision not to keep an artifact (evicted, or an offer it declined): the budget,
-- the writer's quota, what it kept instead, what this one would have saved per reuse (JSON; planner/why.py
-- says it when the artifact is computed again)
CREATE TABLE IF NOT EXISTS decisions(artifact_id TEXT PRIMARY KEY, time REAL NOT NULL, detail TEXT NOT NULL);
-- artifacts written to their writer's confidential namespace (derived from a file the team can't
-- read): other users' kernels don't look them up (and don't forget them when they can't read them)
CREATE TABLE IF NOT EXISTS confidential(artifact_id TEXT PRIMARY KEY, uid INTEGER NOT NULL);
-- who wrote each stored artifact into the store (into their own namespace), as their kernel's account says;
-- the latest writer when several did: artifacts and bytes stored per writer (graph/attribution.py)
CREATE TABLE IF NOT EXISTS authors(artifact_id TEXT PRIMARY KEY, user TEXT NOT NULL, time REAL NOT NULL);
-- what loads saved each reader, by whose artifacts (the writer: the owner of the namespace the manifest was
-- accepted from, as the OS says; in a store of one user, that user): loads, and the compute time the
-- reader's reused steps did not spend. One row per pair of users, kept for the store's life.
CREATE TABLE IF NOT EXISTS reuse(reader TEXT NOT NULL, writer TEXT NOT NULL, loads INTEGER NOT NULL DEFAULT 0,
  saved_seconds REAL NOT NULL DEFAULT 0, PRIMARY KEY(reader, writer));
-- for the materializer (graph/costs.py), which reads what it weighs rather than every vertex: the
-- artifacts naming a vertex as their first or second input (rows with more inputs are few, read once
-- per process), and the scored models best first. The expressions are costs.py's, spelled alike.
CREATE INDEX IF NOT EXISTS artifacts_input0 ON artifacts((CASE WHEN json_valid(inputs) THEN json_extract(inputs, '$[0]') END));
CREATE INDEX IF NOT EXISTS artifacts_input1 ON artifacts((CASE WHEN json_valid(inputs) THEN json_extract(inputs, '$[1]') END))
  WHERE json_valid(inputs) AND json_array_length(inputs) > 1;
CREATE INDEX IF NOT EXISTS artifacts_wide ON artifacts(id) WHERE json_valid(inputs) AND json_array_length(inputs) > 2;
CREATE INDEX IF NOT EXISTS artifacts_quality ON artifacts(quality) WHERE quality IS NOT NULL;
-- who used the store (summary(): a step per user, not a pass over every usage row)
CREATE INDEX IF NOT EXISTS usage_user ON usage(user);
