"""Fake news providers on real local HTTP ports: NewsAPI `/v2/everything` with its real
response and error shapes, and a feed server for RSS 2.0, Atom and Reddit feeds with ETag /
Last-Modified. Each can be told to answer its next requests with an error (a 429 first)."""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "test-key-123"

ERRORS: dict[str, tuple[int, str]] = {
    "apiKeyInvalid": (
        401,
        "Your API key is invalid or incorrect. Check your key, or go to https://newsapi.org"
        " to create a free API key.",
    ),
    "apiKeyMissing": (401, "Your API key is missing."),
    "rateLimited": (
        429,
        "You have been rate limited. Back off for a while before trying the request again.",
    ),
    "maximumResultsReached": (
        426,
        "You have requested too many results. Developer accounts are limited to a max of"
        " 100 results.",
    ),
    "parameterInvalid": (400, "You've included a parameter in your request which is invalid."),
}


def news_article(
    title: str,
    url: str,
    published_at: datetime,
    *,
    source: str = "Example Crypto Daily",
    description: str | None = None,
) -> dict[str, Any]:
    return {
        "source": {"id": None, "name": source},
        "author": None,
        "title": title,
        "description": description,
        "url": url,
        "urlToImage": None,
        "publishedAt": published_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "content": None,
    }


@dataclass
class NewsApiState:
    articles: list[dict[str, Any]] = field(default_factory=list)
    api_key: str = API_KEY
    max_results: int = 100  # the developer plan serves the first 100 results
    queued_errors: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


class _NewsApiHandler(BaseHTTPRequestHandler):
    state: NewsApiState

    def log_message(self, *args: Any) -> None:
        return None

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: str, headers: dict[str, str] | None = None) -> None:
        status, message = ERRORS[code]
        self._send(status, {"status": "error", "code": code, "message": message}, headers)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        state = self.state
        state.requests.append({"path": parts.path, "params": params, "headers": dict(self.headers)})
        if parts.path != "/v2/everything":
            self._send(404, {"status": "error", "code": "notFound", "message": "no such route"})
            return
        key = self.headers.get("X-Api-Key") or params.get("apiKey")
        if not key:
            self._error("apiKeyMissing")
            return
        if key != state.api_key:
            self._error("apiKeyInvalid")
            return
        if state.queued_errors:
            code, headers = state.queued_errors.pop(0)
            self._error(code, headers)
            return
        page_size = int(params.get("pageSize", "100"))
        page = int(params.get("page", "1"))
        if page_size > 100 or page < 1:
            self._error("parameterInvalid")
            return
        if (page - 1) * page_size >= state.max_results:
            self._error("maximumResultsReached")
            return
        matches = list(state.articles)
        since = params.get("from")
        if since:
            start = datetime.fromisoformat(since).replace(tzinfo=UTC)
            matches = [
                a
                for a in matches
                if datetime.fromisoformat(a["publishedAt"].replace("Z", "+00:00")) >= start
            ]
        matches.sort(key=lambda a: a["publishedAt"], reverse=True)
        window = matches[(page - 1) * page_size : page * page_size]
        self._send(200, {"status": "ok", "totalResults": len(matches), "articles": window})


@dataclass
class Feed:
    body: str
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str = '"v1"'
    last_modified: datetime = field(
        default_factory=lambda: datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    )


@dataclass
class FeedState:
    feeds: dict[str, Feed] = field(default_factory=dict)
    queued_errors: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


class _FeedHandler(BaseHTTPRequestHandler):
    state: FeedState

    def log_message(self, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        state = self.state
        path = urlsplit(self.path).path
        state.requests.append({"path": path, "headers": dict(self.headers)})
        if state.queued_errors:
            status, headers = state.queued_errors.pop(0)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        feed = state.feeds.get(path)
        if feed is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        modified = format_datetime(feed.last_modified, usegmt=True)
        if self.headers.get("If-None-Match") == feed.etag or (
            self.headers.get("If-Modified-Since") == modified
            and "If-None-Match" not in self.headers
        ):
            self.send_response(304)
            self.send_header("ETag", feed.etag)
            self.end_headers()
            return
        data = feed.body.encode()
        self.send_response(200)
        self.send_header("Content-Type", feed.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", feed.etag)
        self.send_header("Last-Modified", modified)
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def newsapi_server(state: NewsApiState) -> Iterator[str]:
    handler = type("Handler", (_NewsApiHandler,), {"state": state})
    with _serve(handler) as url:
        yield url


@contextmanager
def feed_server(state: FeedState) -> Iterator[str]:
    handler = type("Handler", (_FeedHandler,), {"state": state})
    with _serve(handler) as url:
        yield url


def rss(items: list[tuple[str, str, datetime, str]], *, title: str = "Example Crypto News") -> str:
    """An RSS 2.0 document; items are (title, link, published, description HTML)."""
    entries = "".join(
        f"<item><title>{t}</title><link>{link}</link>"
        f'<guid isPermaLink="false">{link}</guid>'
        f"<pubDate>{format_datetime(at, usegmt=True)}</pubDate>"
        f"<description><![CDATA[{d}]]></description></item>"
        for t, link, at, d in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://news.example.com/</link>{entries}</channel></rss>"
    )


def atom(items: list[tuple[str, str, datetime, str]], *, title: str = "Example Atom News") -> str:
    entries = "".join(
        f"<entry><title>{t}</title><link href='{link}'/><id>{link}</id>"
        f"<updated>{at.strftime('%Y-%m-%dT%H:%M:%S+00:00')}</updated>"
        f"<summary type='html'><![CDATA[{d}]]></summary></entry>"
        for t, link, at, d in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{title}</title><id>urn:example</id>"
        f"<updated>2026-11-27T12:00:00+00:00</updated>{entries}</feed>"
    )


def reddit(subreddit: str, posts: list[tuple[str, str, datetime]]) -> str:
    """Reddit's Atom shape: the post in `content` HTML with the submitted-by boilerplate."""
    entries = "".join(
        "<entry><author><name>/u/someone</name><uri>https://www.reddit.com/user/someone</uri>"
        f"</author><category term='{subreddit}' label='r/{subreddit}'/>"
        f"<content type='html'>&lt;!-- SC_OFF --&gt;&lt;div class=&quot;md&quot;&gt;&lt;p&gt;"
        f"{body}&lt;/p&gt;&lt;/div&gt;&lt;!-- SC_ON --&gt; &amp;#32; submitted by &amp;#32; "
        "&lt;a href=&quot;https://www.reddit.com/user/someone&quot;&gt; /u/someone &lt;/a&gt;"
        " &lt;br/&gt; &lt;span&gt;&lt;a href=&quot;x&quot;&gt;[link]&lt;/a&gt;&lt;/span&gt;"
        " &amp;#32; &lt;span&gt;&lt;a href=&quot;x&quot;&gt;[comments]&lt;/a&gt;&lt;/span&gt;"
        f"</content><id>t3_{zlib.crc32(title.encode())}</id>"
        f"<link href='https://www.reddit.com/r/{subreddit}/comments/{zlib.crc32(title.encode())}/x/'/>"
        f"<updated>{at.strftime('%Y-%m-%dT%H:%M:%S+00:00')}</updated>"
        f"<published>{at.strftime('%Y-%m-%dT%H:%M:%S+00:00')}</published>"
        f"<title>{title}</title></entry>"
        for title, body, at in posts
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"'
        ' xmlns:media="http://search.yahoo.com/mrss/">'
        f"<category term='{subreddit}' label='r/{subreddit}'/>"
        f"<updated>2026-11-27T12:00:00+00:00</updated><id>/r/{subreddit}/new/.rss</id>"
        f"<link rel='self' href='https://www.reddit.com/r/{subreddit}/new/.rss'/>"
        f"<title>newest submissions : {subreddit}</title>{entries}</feed>"
    )


def ago(**kwargs: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(**kwargs)
