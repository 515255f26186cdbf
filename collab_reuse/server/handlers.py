"""REST handlers of the collab_reuse server extension, under ``<base_url>/collab-reuse/``.

    GET summary                              the store: bytes vs budget, counts, hit rate, top artifacts,
                                             per user: time saved by whose artifacts, what each stored
    GET artifacts?offset=&limit=             a page of artifacts, most valuable first
    GET events?kernel_id=&since=&limit=      cell reports with seq > since, oldest first

All are authenticated and authorized as jupyter_server's own handlers are (``@authenticated``,
then ``@authorized`` on the ``collab_reuse`` resource, action "read": an authorizer that denies
it answers 403), and answer JSON. Cell reports are only ever those of this server's user
(the Unix account the server and its kernels run as): with or without a kernel id, another
user's reports in a shared store are not served (they name code and files).
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_path_join

from .reader import MAX_LIMIT, StoreReader

NAMESPACE = "collab-reuse"
READER_SETTING = "collab_reuse_reader"
AUTH_RESOURCE = "collab_reuse"


class _ReuseHandler(APIHandler):
    """Shared plumbing: the reader, integer query arguments, JSON answers."""

    auth_resource = AUTH_RESOURCE

    @property
    def reader(self) -> StoreReader:
        return self.settings[READER_SETTING]

    def int_argument(self, name: str, default: int, low: int, high: int | None = None) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise tornado.web.HTTPError(400, f"{name} must be an integer, not {raw!r}") from None
        if value < low:
            raise tornado.web.HTTPError(400, f"{name} must be at least {low}")
        return value if high is None else min(value, high)

    def reply(self, data: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))


class SummaryHandler(_ReuseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(await self.reader.summary())


class ArtifactsHandler(_ReuseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        offset = self.int_argument("offset", 0, low=0)
        limit = self.int_argument("limit", 100, low=1, high=MAX_LIMIT)
        self.reply(await self.reader.artifacts(offset, limit))


class EventsHandler(_ReuseHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        kernel_id = self.get_query_argument("kernel_id", None) or None
        since = self.int_argument("since", 0, low=0)
        limit = self.int_argument("limit", 500, low=1, high=MAX_LIMIT)
        self.reply(await self.reader.events(kernel_id, since, limit))


class ReportHandler(JupyterHandler):
    """The reuse report (``collab_reuse/analytics.py``), an HTML page the panel links to. (A page, not
    an API answer: APIHandler's content security policy would block its embedded figures.)"""

    auth_resource = AUTH_RESOURCE

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        page = await self.settings[READER_SETTING].report()
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page)


def setup_handlers(web_app: tornado.web.Application, reader: StoreReader) -> None:
    """Register the handlers on the server's tornado application."""
    web_app.settings[READER_SETTING] = reader
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, NAMESPACE, "summary"), SummaryHandler),
            (url_path_join(base_url, NAMESPACE, "artifacts"), ArtifactsHandler),
            (url_path_join(base_url, NAMESPACE, "events"), EventsHandler),
            (url_path_join(base_url, NAMESPACE, "report"), ReportHandler),
        ],
    )
