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
-- what changed in artifacts, for the materializer's per-process memo of its targets' potentials and
-- recreation costs (graph/costs.py: Memo): every insert and delete, and every update that may change a
-- vertex's edges, score, compute time or whether its row is well formed (rows.py's check of each column,
-- as SQL: a row's well-formedness is unchanged when each changed column is as well formed as before).
-- what: 'i' inserted, 'd' deleted, 'q' score changed and/or 'c' compute time changed (same id and inputs,
-- each column as well formed as before), 'o' anything else; the old inputs and scores, as they were.
-- Only the newest 50,000 entries are kept.
CREATE TABLE IF NOT EXISTS artifact_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, artifact_id, what, old_inputs,
  old_quality, new_quality);
CREATE TRIGGER IF NOT EXISTS artifact_changes_inserted AFTER INSERT ON artifacts BEGIN
  INSERT INTO artifact_changes(artifact_id, what) VALUES(NEW.id, 'i');
END;
CREATE TRIGGER IF NOT EXISTS artifact_changes_deleted AFTER DELETE ON artifacts BEGIN
  INSERT INTO artifact_changes(artifact_id, what, old_inputs, old_quality) VALUES(OLD.id, 'd', OLD.inputs, OLD.quality);
END;
CREATE TRIGGER IF NOT EXISTS artifact_changes_updated AFTER UPDATE ON artifacts
WHEN NEW.id IS NOT OLD.id OR typeof(NEW.inputs) IS NOT typeof(OLD.inputs) OR NEW.inputs IS NOT OLD.inputs
  OR typeof(NEW.quality) IS NOT typeof(OLD.quality) OR NEW.quality IS NOT OLD.quality
  OR typeof(NEW.compute_seconds) IS NOT typeof(OLD.compute_seconds) OR NEW.compute_seconds IS NOT OLD.compute_seconds
  OR ((typeof(NEW.op) IS NOT typeof(OLD.op) OR NEW.op IS NOT OLD.op)
      AND NOT ((typeof(NEW.op)='text' AND NEW.op<>'') IS (typeof(OLD.op)='text' AND OLD.op<>'')))
  OR ((typeof(NEW.kind) IS NOT typeof(OLD.kind) OR NEW.kind IS NOT OLD.kind)
      AND NOT ((typeof(NEW.kind)='text' AND NEW.kind<>'') IS (typeof(OLD.kind)='text' AND OLD.kind<>'')))
  OR ((typeof(NEW.size) IS NOT typeof(OLD.size) OR NEW.size IS NOT OLD.size)
      AND NOT ((typeof(NEW.size)='integer' AND NEW.size>=0) IS (typeof(OLD.size)='integer' AND OLD.size>=0)))
  OR ((typeof(NEW.frequency) IS NOT typeof(OLD.frequency) OR NEW.frequency IS NOT OLD.frequency)
      AND NOT ((typeof(NEW.frequency)='integer' AND NEW.frequency>=0) IS (typeof(OLD.frequency)='integer' AND OLD.frequency>=0)))
  OR ((typeof(NEW.state) IS NOT typeof(OLD.state) OR NEW.state IS NOT OLD.state)
      AND NOT ((typeof(NEW.state)='integer' AND NEW.state IN (0, 1, 2)) IS (typeof(OLD.state)='integer' AND OLD.state IN (0, 1, 2))))
  OR ((typeof(NEW.load_seconds) IS NOT typeof(OLD.load_seconds) OR NEW.load_seconds IS NOT OLD.load_seconds)
      AND NOT ((NEW.load_seconds IS NULL OR (typeof(NEW.load_seconds) IN ('integer', 'real') AND NEW.load_seconds BETWEEN 0 AND 1.7976931348623157e308)) IS (OLD.load_seconds IS NULL OR (typeof(OLD.load_seconds) IN ('integer', 'real') AND OLD.load_seconds BETWEEN 0 AND 1.7976931348623157e308))))
  OR ((typeof(NEW.storable) IS NOT typeof(OLD.storable) OR NEW.storable IS NOT OLD.storable)
      AND NOT ((typeof(NEW.storable)='integer' AND NEW.storable IN (0, 1)) IS (typeof(OLD.storable)='integer' AND OLD.storable IN (0, 1))))
BEGIN
  INSERT INTO artifact_changes(artifact_id, what, old_inputs, old_quality, new_quality) VALUES(OLD.id,
    CASE WHEN NEW.id IS OLD.id AND typeof(NEW.inputs) IS typeof(OLD.inputs) AND NEW.inputs IS OLD.inputs
      AND (typeof(NEW.op)='text' AND NEW.op<>'') IS (typeof(OLD.op)='text' AND OLD.op<>'')
      AND (typeof(NEW.kind)='text' AND NEW.kind<>'') IS (typeof(OLD.kind)='text' AND OLD.kind<>'')
      AND (typeof(NEW.size)='integer' AND NEW.size>=0) IS (typeof(OLD.size)='integer' AND OLD.size>=0)
      AND (typeof(NEW.compute_seconds) IN ('integer', 'real') AND NEW.compute_seconds BETWEEN 0 AND 1.7976931348623157e308) IS (typeof(OLD.compute_seconds) IN ('integer', 'real') AND OLD.compute_seconds BETWEEN 0 AND 1.7976931348623157e308)
      AND (typeof(NEW.frequency)='integer' AND NEW.frequency>=0) IS (typeof(OLD.frequency)='integer' AND OLD.frequency>=0)
      AND (typeof(NEW.state)='integer' AND NEW.state IN (0, 1, 2)) IS (typeof(OLD.state)='integer' AND OLD.state IN (0, 1, 2))
      AND (NEW.load_seconds IS NULL OR (typeof(NEW.load_seconds) IN ('integer', 'real') AND NEW.load_seconds BETWEEN 0 AND 1.7976931348623157e308)) IS (OLD.load_seconds IS NULL OR (typeof(OLD.load_seconds) IN ('integer', 'real') AND OLD.load_seconds BETWEEN 0 AND 1.7976931348623157e308))
      AND (NEW.quality IS NULL OR (typeof(NEW.quality) IN ('integer', 'real') AND NEW.quality BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308)) IS (OLD.quality IS NULL OR (typeof(OLD.quality) IN ('integer', 'real') AND OLD.quality BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308))
      AND (typeof(NEW.storable)='integer' AND NEW.storable IN (0, 1)) IS (typeof(OLD.storable)='integer' AND OLD.storable IN (0, 1))
    THEN (CASE WHEN typeof(NEW.quality) IS NOT typeof(OLD.quality) OR NEW.quality IS NOT OLD.quality THEN 'q' ELSE '' END)
      || (CASE WHEN typeof(NEW.compute_seconds) IS NOT typeof(OLD.compute_seconds) OR NEW.compute_seconds IS NOT OLD.compute_seconds THEN 'c' ELSE '' END)
    ELSE 'o' END, OLD.inputs, OLD.quality, NEW.quality);
  INSERT INTO artifact_changes(artifact_id, what) SELECT NEW.id, 'o' WHERE NEW.id IS NOT OLD.id;
END;
CREATE TRIGGER IF NOT EXISTS artifact_changes_bounded AFTER INSERT ON artifact_changes WHEN NEW.seq % 1000 = 0 BEGIN
  DELETE FROM artifact_changes WHERE seq <= NEW.seq - 50000;
END;
-- the stored artifacts' model potentials (clipped into [0, 1]) as a materialization pass found them, as of
-- the change seq (artifact_changes' sequence): a kernel's first pass takes them and applies the changes
-- since (graph/costs.py: Memo.load) instead of searching the graph again
CREATE TABLE IF NOT EXISTS potentials(artifact_id TEXT PRIMARY KEY, value REAL NOT NULL, seq INTEGER NOT NULL);
