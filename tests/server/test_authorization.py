"""The extension's endpoints are authorized as jupyter_server's own handlers are: an authorizer that
denies everything gets 403 from /collab-reuse/* as from /api/contents (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jupyter_server.auth import Authorizer
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

SHIPPED = Path(__file__).parents[2] / "jupyter-config" / "server-config" / "collab_reuse.json"
asked: list[tuple[str, str]] = []


class DenyEverything(Authorizer):
    """Refuses every action on every resource, noting what it was asked."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        asked.append((action, resource))
        return False


@pytest.fixture
def jp_server_config():
    """The extension enabled as installed, under an authorizer that denies everything."""
    config = Config(json.loads(SHIPPED.read_text()))
    config.ServerApp.authorizer_class = DenyEverything
    return config


@pytest.mark.parametrize("endpoint", ["summary", "artifacts", "events", "report"])
async def test_an_authorizer_that_denies_everything_gets_403(jp_fetch, store_dir, endpoint):
    asked.clear()
    for path in (("api", "contents"), ("collab-reuse", endpoint)):
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch(*path)
        assert err.value.code == 403, path
    assert ("read", "collab_reuse") in asked, asked
    assert not store_dir.exists(), "a refused request reads nothing"
