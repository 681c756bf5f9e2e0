"""Article identity and text at the edge: canonical URLs, normalized titles, plain text.

Pure: no I/O. Two copies of an article (the same story from NewsAPI and from its outlet's RSS
feed, or with different tracking parameters) get the same `url_key`; syndicated copies under
different URLs get the same `title_key`.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "ref", "ref_src", "cmpid"}
)
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")
_PUNCT_RE = re.compile(r"[^\w\s$]")


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no `www.`, no fragment, no tracking parameters, sorted
    query, no trailing slash; http and https are the same article."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    netloc = host if parts.port in (None, 80, 443) else f"{host}:{parts.port}"
    query = sorted(
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_") and key.lower() not in _TRACKING_PARAMS
    )
    path = parts.path.rstrip("/") or ""
    return urlunsplit(("https", netloc, path, urlencode(query), ""))


def plain_text(markup: str | None) -> str:
    """Feed summaries are HTML: drop the tags, decode the entities, collapse the spaces."""
    if not markup:
        return ""
    text = html.unescape(_TAG_RE.sub(" ", markup))
    return _SPACE_RE.sub(" ", text).strip()


def strip_source_suffix(title: str, source: str) -> str:
    """NewsAPI titles often end in " - Outlet"; drop it when it names the article's source."""
    for separator in (" - ", " | ", " \u2013 ", " \u2014 "):
        head, found, tail = title.rpartition(separator)
        if found and head and tail.strip().lower() == source.strip().lower():
            return head.strip()
    return title.strip()


def normalized_title(title: str) -> str:
    text = unicodedata.normalize("NFKC", title).casefold()
    text = _PUNCT_RE.sub(" ", text)
    return _SPACE_RE.sub(" ", text).strip()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def url_key(url: str) -> str:
    return digest(canonical_url(url))


def title_key(title: str) -> str:
    return digest(normalized_title(title))


def classification_text(title: str, summary: str, *, limit: int = 600) -> str:
    """What the classifier reads: the headline, then as much of the summary as fits."""
    if not summary or normalized_title(summary).startswith(normalized_title(title)):
        return title[:limit]
    return f"{title}. {summary}"[:limit]


def iso(at: datetime) -> str:
    """A timestamp as the API writes it: ISO-8601 UTC with `Z`."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
