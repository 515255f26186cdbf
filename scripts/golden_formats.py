"""Write the golden stored forms of ``tests/golden/values.py`` (run when a format change is decided:
bump the format's version, then ``python scripts/golden_formats.py`` and commit the new files).

Each ``tests/golden/<name>.json`` holds the store's format version, the library versions it was
written with, the manifest ``store/formats.py`` produced, its blobs (base64), and, for data values,
the digest ``fingerprint/digest.py`` gives them (operation ids are built from such digests).
"""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collab_reuse.fingerprint.digest import FORMAT_VERSION, digest_parts  # noqa: E402
from collab_reuse.fingerprint.values import content_digest  # noqa: E402
from collab_reuse.store import formats  # noqa: E402
from collab_reuse.store.formats import FORMAT  # noqa: E402
from tests.golden.values import VALUES  # noqa: E402


def versions() -> dict[str, str]:
    import numpy
    import pandas
    import pyarrow
    import sklearn

    return {"numpy": numpy.__version__, "pandas": pandas.__version__, "pyarrow": pyarrow.__version__,
            "sklearn": sklearn.__version__}


def golden(name: str) -> dict:
    value = VALUES[name]()
    encoded = formats.encode(value, allow_pickle=False)
    out = {"store_format": FORMAT, "digest_format": FORMAT_VERSION, "versions": versions(),
           "manifest": encoded.manifest,
           "blobs": {key: base64.b64encode(data).decode() for key, data in sorted(encoded.blobs.items())}}
    if name != "model":
        out["digest"] = digest_parts(value, resolve=content_digest)
    return out


def main() -> None:
    for name in VALUES:
        path = ROOT / "tests" / "golden" / f"{name}.json"
        path.write_text(json.dumps(golden(name), indent=1, sort_keys=True) + "\n")
        print(path)


if __name__ == "__main__":
    main()
