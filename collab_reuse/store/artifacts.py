"""The artifact store: values in, values out, by artifact id, each read checked end to end.

An artifact is a manifest row plus content-keyed blobs. The row, ``m:<artifact id>``, is small
JSON: the artifact id itself, the format version, the writer (uid and user name) and the key
and size of the manifest's body. The body is a blob (so its key is the hash of its bytes) that
names the artifact id again, the value's kind and type, its tree (``formats.py``), every blob
key it uses with its size, and what the value's step replays (``extra``: output, warnings, the
random state after it). Writing puts the blobs first, then the body, then the row, so a reader
sees a whole artifact or none. Reading ``get(id)`` checks:

* the row's artifact id is the id asked for (two rows' keys swapped: refused), its format is
  this code's, and its writer passes ``trusted_writers``;
* the body hashes to the key the row names, names the same id, lists exactly the blobs its tree
  uses, and every blob hashes to its key and has its size (``blobs.py`` verifies every read);
* the decoded value has the kind and type the body says, and the kind the Experiment Graph
  recorded for the artifact (``expect_kind``): a model does not come back as a float;
* ``extra`` has the shape the tracer writes (a warning names a real warning class by its own
  name, a file the warning points at is a Python source or a pseudo-file, the random state is
  one numpy takes).

What this cannot catch: the row is not content-addressed (its key is the artifact id, which is
what readers look up), so anyone who can write to the store can write a *valid, well-formed*
manifest for any id, pointing at a value of their choosing (a substitution no hash can detect:
the content is authentic, the claim "this is what operation X computes" is not). Hence
per-writer namespaces: a blob store that knows who owns where a row was found (a team store's
``store/namespaces.py``: the owner of the user's namespace directory, as ``os.stat`` says) gives
each row with that owner (``owned_rows``), and a row is accepted only when the owner is the
writer the row names (a row claiming another's authorship is refused) and ``trusted_writers``
trusts that writer (a team store: the team's members; a store of one user: everyone, i.e. that
user, the only one who can write it). The first acceptable row wins, the reader's own first. Pickle is written and read only when the user
turned ``trust_pickle`` on and the store is one only they can write (``Blobs.private``), and
read only from rows that say this user wrote them.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from .. import team as teams
from ..errors import CorruptArtifact, Unreusable
from . import fidelity, formats, keys
from .blobs import Blobs
from .formats import FORMAT

_ROW_FIELDS = {"format", "id", "writer", "body", "size"}
_BODY_FIELDS = {"format", "id", "kind", "type", "value", "blobs", "extra"}
#: what the tracer records beside a value: replayed output, the random state after the step,
#: how a fitted estimator and its call's result were stored, a cell's replay, what a call changed
_EXTRA_FIELDS = {"log", "rng_after", "fitted_self", "result_is_self", "cell", "nested_fitted", "effects"}
_WARNING_CLASS = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class Writer:
    """Who wrote an artifact, as the writer said (see the module docstring for what that is worth)."""

    uid: int
    user: str


def current_writer(user: str | None = None) -> Writer:
    uid = os.geteuid()
    if user is None:
        import pwd

        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = str(uid)
    return Writer(uid, user)


def everyone(writer: Writer) -> bool:
    return True


@dataclass
class Fetched:
    """A value read from the store: what ``get`` gives, and who wrote it (``ArtifactStore.author``)."""

    value: Any
    extra: dict
    nbytes: int
    author: str | None


@dataclass
class Written:
    """What a put did: every blob the artifact uses (key -> size) and the bytes newly written."""

    blob_sizes: dict[str, int]
    bytes_written: int
    seconds: float


class ArtifactStore:
    """Encode/decode artifacts over a ``Blobs`` backend."""

    def __init__(self, blobs: Blobs, trust_pickle: bool = False, user: str | None = None,
                 trusted_writers: Callable[[Writer], bool] = everyone):
        self.blobs = blobs
        self.trust_pickle = trust_pickle
        self.writer = current_writer(user)
        self.trusted_writers = trusted_writers

    @staticmethod
    def manifest_key(artifact_id: str) -> str:
        return f"m:{artifact_id}"

    def pickle_allowed(self, writer: Writer | None = None) -> bool:
        """Pickle only if the user asked for it, the store is one only they can write, and (when
        reading) the artifact says they wrote it."""
        return (self.trust_pickle and (writer is None or writer.uid == self.writer.uid)
                and self.blobs.private())

    def encode(self, value: Any, verify: bool = True) -> formats.Encoded:
        """Encode and (by default) prove the encoding faithful, decoding it with the decoders and
        checks a reader runs; raises Unreusable otherwise."""
        allow_pickle = self.pickle_allowed()
        encoded = formats.encode(value, allow_pickle)
        if verify and not fidelity.faithful_by_construction(value):
            try:  # (from its JSON text, as a reader gets it: no string of the original's comes back)
                back = formats.decode(json.loads(json.dumps(encoded.manifest)), encoded.blobs.__getitem__, allow_pickle)
            except CorruptArtifact as exc:
                raise Unreusable(f"a {type(value).__name__} would be refused on load: {exc}") from None
            fidelity.verify_roundtrip(value, back, pickled=formats.uses_pickle(encoded.manifest))
        return encoded

    @staticmethod
    def manifest_body(artifact_id: str, encoded: formats.Encoded, extra: dict | None = None) -> tuple[bytes, str]:
        """(the manifest body ``put`` writes, its key): known before the write, so that a writer claims
        the body's key with the others (``ExperimentGraph.begin_write``) and gc never takes it for unused."""
        sizes = {key: len(data) for key, data in encoded.blobs.items()}
        body = json.dumps({"format": FORMAT, "id": artifact_id, **encoded.manifest, "blobs": sizes,
                           "extra": extra or {}}, separators=(",", ":")).encode()
        return body, keys.content_key(body)

    def put(self, artifact_id: str, encoded: formats.Encoded, extra: dict | None = None,
            confidential: bool = False) -> Written:
        """Write blobs, then the body, then the row. ``extra`` rides along (replayed output, RNG state).
        ``confidential``: derived from a file the team can't read, it goes where only its writer reads."""
        start = time.perf_counter()
        blobs = self.blobs.confidential() if confidential else self.blobs
        written = 0
        sizes: dict[str, int] = {}
        for key, data in encoded.blobs.items():
            written += blobs.put(key, data)
            sizes[key] = len(data)
        body, body_key = self.manifest_body(artifact_id, encoded, extra)
        written += blobs.put(body_key, body)
        sizes[body_key] = len(body)
        row = json.dumps({"format": FORMAT, "id": artifact_id, "writer": vars(self.writer), "body": body_key,
                          "size": len(body)}, separators=(",", ":")).encode()
        mkey = self.manifest_key(artifact_id)
        written += blobs.put_row(mkey, row)
        sizes[mkey] = len(row)
        return Written(sizes, written, time.perf_counter() - start)

    def author(self, owner: int | None) -> str | None:
        """Whom to attribute a row accepted from ``owner``'s namespace to: the name the OS gives that
        uid (this process's own user for its own namespace), never the ``user`` the row says (its
        writer wrote that). None where no namespace vouches for a row (a store of one user: all of it
        is that user's)."""
        if owner is None:
            return None
        return self.writer.user if owner == self.writer.uid else teams.name_of(owner)

    def manifest(self, artifact_id: str) -> dict:
        """The checked manifest body of an artifact (plus ``writer``, as the row says, and ``author``,
        as the OS says: ``author``); KeyError if absent, CorruptArtifact if anything in it fails a check."""
        row, writer, owner = self._trusted_row(artifact_id)
        try:
            data = self.blobs.get(row["body"])
        except KeyError:
            raise CorruptArtifact(f"artifact {artifact_id[:12]} lost its manifest body") from None
        if len(data) != row["size"]:
            raise CorruptArtifact(f"artifact {artifact_id[:12]}'s manifest body has the wrong size")
        body = _parse_body(data, artifact_id)
        return {**body, "writer": writer, "author": self.author(owner)}

    def body_key(self, artifact_id: str) -> str | None:
        """The key of an artifact's manifest body, as its trusted row names it (None: no such row)."""
        try:
            return self._trusted_row(artifact_id)[0]["body"]
        except (KeyError, CorruptArtifact):
            return None

    def _trusted_row(self, artifact_id: str) -> tuple[dict, Writer, int | None]:
        """The first manifest row of ``artifact_id`` whose writer is where the row was found and is
        trusted, with the writer it names and the uid owning where it was found (None: not known);
        KeyError if there is none, CorruptArtifact if the only ones fail."""
        name = self.manifest_key(artifact_id)
        refused = None
        for data, owner in self.blobs.owned_rows(name):
            try:
                row = _parse_row(data, artifact_id)
            except CorruptArtifact as exc:
                refused = exc
                continue
            writer = Writer(row["writer"]["uid"], row["writer"]["user"])
            if owner is not None and writer.uid != owner:
                refused = CorruptArtifact(f"artifact {artifact_id[:12]}'s manifest in uid {owner}'s namespace "
                                          f"claims to be {writer.user}'s (uid {writer.uid}): refused")
            elif not self.trusted_writers(writer):
                refused = CorruptArtifact(f"artifact {artifact_id[:12]} was written by {writer.user} (uid "
                                          f"{writer.uid}), whom this reader does not trust")
            else:
                return row, writer, owner
        if refused is not None:
            raise refused
        raise KeyError(name)

    def get(self, artifact_id: str, expect_kind: str | None = None) -> tuple[Any, dict, int]:
        """(value, extra, bytes read); KeyError if absent, CorruptArtifact if anything fails a check.
        ``expect_kind``: the Experiment Graph's kind of the artifact."""
        got = self.fetch(artifact_id, expect_kind)
        return got.value, got.extra, got.nbytes

    def fetch(self, artifact_id: str, expect_kind: str | None = None) -> Fetched:
        """``get``, and who wrote the value (``author``)."""
        manifest = self.manifest(artifact_id)
        sizes = manifest["blobs"]
        read = 0

        def fetch(key: str) -> memoryview:
            try:
                data = self.blobs.get(key)
            except KeyError:
                raise CorruptArtifact(f"artifact {artifact_id[:12]} lost its blob {key[:12]}") from None
            if len(data) != sizes[key]:
                raise CorruptArtifact(f"blob {key[:12]} of artifact {artifact_id[:12]} has the wrong size")
            return data

        fetched = _fetch_in_parallel(sizes, fetch)

        def get_blob(key: str) -> memoryview:
            nonlocal read
            if key not in sizes:
                raise CorruptArtifact(f"artifact {artifact_id[:12]} uses a blob its manifest does not list")
            data = fetched.pop(key) if key in fetched else fetch(key)
            read += len(data)
            return data

        allow_pickle = self.pickle_allowed(manifest["writer"]) and formats.uses_pickle(manifest)
        value = formats.decode(manifest, get_blob, allow_pickle)
        extra = manifest["extra"]
        if expect_kind is not None and expect_kind not in _kinds_of(value, extra):
            raise CorruptArtifact(f"artifact {artifact_id[:12]} holds a {formats.kind_of(value)}, but the "
                                  f"Experiment Graph says it is a {expect_kind[:20]}")
        return Fetched(value, extra, read, manifest["author"])

    def delete(self, artifact_id: str) -> None:
        self.blobs.delete(self.manifest_key(artifact_id))

    def confidential(self, artifact_id: str) -> bool:
        """Was this artifact read from the user's confidential namespace (by where it is, not by what
        any shared file says)?"""
        return self.blobs.holds_confidential(self.manifest_key(artifact_id))


_PARALLEL_BYTES = 16 << 20


def _fetch_in_parallel(sizes: dict[str, int], fetch: Callable[[str], memoryview]) -> dict[str, memoryview]:
    """Read and verify a large artifact's blobs on two threads (reading and hashing release the
    GIL: a forest's hundred 1 MB node arrays are checked in about half the time); small ones are
    read as the decoder asks for them."""
    if sum(sizes.values()) < _PARALLEL_BYTES or len(sizes) < 2:
        return {}
    import threading

    pending = sorted(sizes, key=sizes.__getitem__, reverse=True)
    fetched: dict[str, memoryview] = {}
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        while not failures:
            with lock:
                if not pending:
                    return
                key = pending.pop()
            try:
                fetched[key] = fetch(key)
            except BaseException as exc:  # (raised in the caller's thread below)
                failures.append(exc)

    helper = threading.Thread(target=work, name="collab_reuse-fetch", daemon=True)
    helper.start()
    work()
    helper.join()
    if failures:
        raise failures[0]
    return fetched


def _kinds_of(value: Any, extra: dict) -> set[str]:
    """The Experiment Graph kinds a stored value may have: its own; under a call's changes
    (``effects``: stored as ``(value, new states)``) the value's; for a fitted estimator stored
    with its call's result (``fitted_self``) the model's or the result's."""
    kinds = {formats.kind_of(value)}
    if "effects" in extra and type(value) is tuple and len(value) == 2:
        value = value[0]
        kinds.add(formats.kind_of(value))
    if extra.get("fitted_self") and type(value) is tuple and len(value) == 2 and formats.kind_of(value[0]) == "model":
        kinds |= {"model", formats.kind_of(value[1])}
    return kinds


def _json_object(data: bytes | memoryview, what: str, fields: set[str]) -> dict:
    try:
        parsed = json.loads(bytes(data))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CorruptArtifact(f"{what} is not JSON: {str(exc)[:80]}") from None
    if type(parsed) is not dict or set(parsed) != fields:
        raise CorruptArtifact(f"{what} does not have the fields this collab_reuse writes")
    if parsed["format"] != FORMAT:
        raise CorruptArtifact(f"{what} is in format {str(parsed['format'])[:10]}, not {FORMAT}")
    return parsed


def _parse_row(data: bytes, artifact_id: str) -> dict:
    row = _json_object(data, f"manifest row of {artifact_id[:12]}", _ROW_FIELDS)
    if row["id"] != artifact_id:
        raise CorruptArtifact(f"the manifest row under {artifact_id[:12]} is {str(row['id'])[:12]}'s")
    writer = row["writer"]
    if (type(writer) is not dict or set(writer) != {"uid", "user"} or type(writer["uid"]) is not int
            or type(writer["user"]) is not str or not keys.is_content_key(row["body"]) or type(row["size"]) is not int):
        raise CorruptArtifact(f"the manifest row of {artifact_id[:12]} is malformed")
    return row


def _parse_body(data: bytes | memoryview, artifact_id: str) -> dict:
    body = _json_object(data, f"manifest of {artifact_id[:12]}", _BODY_FIELDS)
    if body["id"] != artifact_id:
        raise CorruptArtifact(f"the manifest of {artifact_id[:12]} is {str(body['id'])[:12]}'s")
    sizes = body["blobs"]
    if (type(sizes) is not dict or not all(keys.is_content_key(k) and type(n) is int and n >= 0
                                           for k, n in sizes.items())
            or type(body["kind"]) is not str or type(body["type"]) is not str or type(body["value"]) is not dict):
        raise CorruptArtifact(f"the manifest of {artifact_id[:12]} is malformed")
    if formats.blob_keys(body) != set(sizes):
        raise CorruptArtifact(f"the manifest of {artifact_id[:12]} lists other blobs than its value uses")
    _check_extra(body["extra"], artifact_id)
    return body


def _check_extra(extra: Any, artifact_id: str) -> None:
    """``extra`` as the tracer writes it; what it replays runs in the reader's cell."""
    bad = f"the replay record of {artifact_id[:12]} is malformed"
    if type(extra) is not dict or not set(extra) <= _EXTRA_FIELDS:
        raise CorruptArtifact(bad)
    if any(type(extra.get(flag, False)) is not bool for flag in ("fitted_self", "result_is_self", "cell")):
        raise CorruptArtifact(bad)
    if not _scalar_lists(extra.get("nested_fitted", []), 1) or not _scalar_lists(extra.get("effects", []), 3):
        raise CorruptArtifact(f"{bad}: paths of what a call changed are not lists of names and numbers")
    for entry in extra.get("log", []):
        if type(entry) is not list or not entry:
            raise CorruptArtifact(bad)
        if entry[0] in ("stdout", "stderr") and len(entry) == 2 and type(entry[1]) is str:
            continue
        if entry[0] == "fd" and len(entry) == 3 and entry[1] in ("stdout", "stderr") and _bytes_text(entry[2]):
            continue
        if not (entry[0] == "warning" and len(entry) == 5 and _warning_class(entry[1]) and type(entry[2]) is str
                and _warning_file(entry[3]) and type(entry[4]) is int):
            raise CorruptArtifact(f"{bad}: a warning of an unknown class or pointing at an unusual file")
    if "rng_after" in extra:
        rng = extra["rng_after"]
        state, py = (rng.get("np"), rng.get("py")) if type(rng) is dict and set(rng) == {"np", "py"} else (None, None)
        if (type(state) is not list or len(state) != 5 or state[0] != "MT19937" or not _words(state[1], 624)
                or type(state[2]) is not int or not 0 <= state[2] <= 624 or state[3] not in (0, 1)
                or type(state[4]) not in (int, float)):
            raise CorruptArtifact(f"{bad}: not a random state numpy takes")
        if (type(py) is not list or len(py) != 3 or py[0] != 3 or not _words(py[1], 625)
                or not 0 <= py[1][-1] <= 624 or not (py[2] is None or type(py[2]) is float)):
            raise CorruptArtifact(f"{bad}: not a random state Python's random takes")


def _bytes_text(value: Any) -> bool:
    """Bytes as the tracer records them (latin-1: one character per byte)."""
    if type(value) is not str:
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _words(value: Any, count: int) -> bool:
    """A list of ``count`` unsigned 32-bit integers."""
    return type(value) is list and len(value) == count and all(type(k) is int and 0 <= k < 2**32 for k in value)


def _scalar_lists(value: Any, depth: int) -> bool:
    """Lists nested ``depth`` deep whose leaves are strings or integers (paths into arguments)."""
    if depth == 0:
        return type(value) in (str, int)
    return type(value) is list and all(_scalar_lists(item, depth - 1) for item in value)


def _warning_class(path: Any) -> bool:
    """A Warning subclass named by its own module and qualified name (looked up by name in an
    imported module, never through attribute hooks); a module not imported here names nothing the
    replay could run (it falls back to UserWarning)."""
    if type(path) is not str or not _WARNING_CLASS.fullmatch(path):
        return False
    module_name, _, qualname = path.partition(":")
    found: Any = sys.modules.get(module_name)
    if found is None:
        return True
    for part in qualname.split("."):
        found = vars(found).get(part) if found is not None and hasattr(found, "__dict__") else None
    return (isinstance(found, type) and issubclass(found, Warning)
            and f"{found.__module__}:{found.__qualname__}" == path)


def _warning_file(path: Any) -> bool:
    """A warning's file is shown with its line (the warnings module reads it): only a pseudo-file
    (``<...>``, or ``sys`` for a warning raised above the stack) or a Python or Cython source, and
    only a regular file (never a device or a pipe, on which the read would block)."""
    if type(path) is not str:
        return False
    if path.startswith("<") and path.endswith(">"):
        return True
    if not (path == "sys" or path.endswith((".py", ".pyx", ".pxd", ".pyi"))) or "\x00" in path:
        return False
    try:
        st = os.stat(path)
    except OSError:
        return True  # (absent: nothing is read)
    return stat.S_ISREG(st.st_mode) and st.st_size < 64 << 20
