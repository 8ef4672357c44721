"""Parse news replies (NewsAPI ``/v2/everything``, NewsData.io ``/api/1/latest``) into RawEvents.

Pure: no HTTP here. One RawEvent per article; a bad article becomes a
ParseFailure naming the field and never stops the batch. An error envelope or a
payload of the wrong shape raises ValueError with the API's own message.

Per article: ``external_id`` = NewsData's ``article_id``, else the first 32 hex
of SHA-256 of the article URL (NewsAPI has no id); ``event_id`` =
"{source}-{external_id}"; probability 0.5 as an estimate (an article states no
probability); liquidity and volume 0; ``observed_at`` = ``fetched_at`` (when we
saw it); ``attributes`` = {"domain": URL host without "www.", "published_at":
aware UTC datetime, "source_name": ...}, which the news_quality rule reads.
Titles and descriptions have their whitespace collapsed (NewsAPI text holds
stray "\\r\\n"). NewsData's ``category`` and ``keywords`` tags become the
event's keywords (so a "sports" category reads as off-topic).
"""

from __future__ import annotations

from datetime import UTC, datetime
from hashlib import sha256
from typing import Any
from urllib.parse import urlsplit

from signals.pipeline.events import ParseFailure, RawEvent
from signals.sources.field_readers import (
    BadField,
    clean_text,
    excerpt,
    json_type,
    message_text,
    not_the_reply,
    read_text,
    show,
)

NEWSAPI = "newsapi"
NEWSDATA = "newsdata"
PROBABILITY = 0.5
MAX_TITLE_CHARS = 10_000
MAX_DESCRIPTION_CHARS = 100_000
MAX_URL_CHARS = 2_000
MAX_NAME_CHARS = 200
MAX_TAGS = 20
NEWSAPI_REMOVED = "[Removed]"  # NewsAPI's placeholder for a withdrawn article


def _text(record: dict, field: str, *, required: bool, limit: int) -> str:
    """A text field with its whitespace runs collapsed (NewsAPI text holds stray "\\r\\n")."""
    return read_text(record, field, required=required, limit=limit, collapse_spaces=True)


def _url(record: dict, field: str) -> tuple[str, str]:
    """(url, domain without "www.") of an absolute http(s) URL."""
    url = _text(record, field, required=True, limit=MAX_URL_CHARS)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise BadField(field, f"{field} is not a URL: {show(url)}") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise BadField(field, f"{field} must be an absolute http(s) URL, got {show(url)}")
    host = host.lower().rstrip(".")
    return url, host[4:] if host.startswith("www.") else host


def _published(record: dict, field: str) -> datetime:
    value = record.get(field)
    if value is None or value == "":
        raise BadField(field, f"{field} is missing")
    if not isinstance(value, str) or len(value) > 40:
        raise BadField(field, f"{field} must be a date-time string, got {show(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadField(field, f"{field} is not a date-time: {show(value)}") from None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise BadField(field, f"{field} is out of range: {show(value)}") from None


def _url_id(url: str) -> str:
    return sha256(url.encode("utf-8")).hexdigest()[:32]


def _event(
    source: str,
    external_id: str,
    *,
    title: str,
    description: str,
    url: str,
    domain: str,
    published_at: datetime,
    source_name: str,
    fetched_at: datetime,
    keywords: tuple[str, ...] = (),
) -> RawEvent:
    return RawEvent(
        source=source,
        external_id=external_id,
        event_id=f"{source}-{external_id}",
        title=title,
        description=description,
        probability=PROBABILITY,
        observed_at=fetched_at,
        url=url,
        keywords=keywords,
        volume=0.0,
        liquidity=0.0,
        probability_is_estimate=True,
        attributes={"domain": domain, "published_at": published_at, "source_name": source_name},
    )


# --------------------------------------------------------------------------- NewsAPI


def parse_newsapi_article(record: Any, *, fetched_at: datetime) -> RawEvent | ParseFailure:
    """One NewsAPI article -> RawEvent, or a ParseFailure naming the field."""
    if not isinstance(record, dict):
        return ParseFailure(
            NEWSAPI, "", "article", f"an article must be a JSON object, got {type(record).__name__}", excerpt(record)
        )
    external_id = ""
    try:
        url, domain = _url(record, "url")
        external_id = _url_id(url)
        title = _text(record, "title", required=True, limit=MAX_TITLE_CHARS)
        if title == NEWSAPI_REMOVED:
            raise BadField("title", f"title is {NEWSAPI_REMOVED!r}: NewsAPI withdrew the article")
        description = _text(record, "description", required=False, limit=MAX_DESCRIPTION_CHARS) or _text(
            record, "content", required=False, limit=MAX_DESCRIPTION_CHARS
        )
        published_at = _published(record, "publishedAt")
        source = record.get("source")
        if source is None:
            source_name = ""
        elif isinstance(source, dict):
            try:
                source_name = _text(source, "name", required=False, limit=MAX_NAME_CHARS)
            except BadField as bad:
                raise BadField("source.name", f"source.{bad.reason}") from None
        else:
            raise BadField("source", f"source must be an object {{id, name}}, got {show(source)}")
    except BadField as bad:
        return ParseFailure(
            NEWSAPI, external_id, bad.field, f"article {external_id or '?'}: {bad.reason}", excerpt(record)
        )
    return _event(
        NEWSAPI,
        external_id,
        title=title,
        description=description,
        url=url,
        domain=domain,
        published_at=published_at,
        source_name=source_name or domain,
        fetched_at=fetched_at,
    )


def parse_newsapi(payload: Any, *, fetched_at: datetime) -> list[RawEvent | ParseFailure]:
    """Decoded NewsAPI JSON -> one RawEvent or ParseFailure per article, in reply order."""
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware (UTC)")
    expected = 'a JSON object {"status": "ok", "articles": [...]}'
    if not isinstance(payload, dict):
        raise not_the_reply("NewsAPI", expected, f"it is a JSON {json_type(payload)}", payload)
    status = payload.get("status")
    if status == "error":
        raise _error_reply("NewsAPI", payload.get("code"), payload.get("message"), payload)
    if "status" not in payload:
        raise not_the_reply("NewsAPI", expected, "the key 'status' is missing", payload)
    if status != "ok":
        raise not_the_reply("NewsAPI", expected, f"status is {show(status)}, not 'ok' or 'error'", payload)
    articles = payload.get("articles")
    if not isinstance(articles, list):
        problem = "the key 'articles' is missing" if "articles" not in payload else "'articles' is not an array"
        raise not_the_reply("NewsAPI", expected, problem, payload)
    return [parse_newsapi_article(record, fetched_at=fetched_at) for record in articles]


# --------------------------------------------------------------------------- NewsData.io


def _tags(record: dict, *fields: str) -> tuple[str, ...]:
    tags: set[str] = set()
    for field in fields:
        value = record.get(field)
        if value is None:
            continue
        if not isinstance(value, list):
            raise BadField(field, f"{field} must be a list of strings, got {show(value)}")
        for item in value:
            if not isinstance(item, str) or len(item) > MAX_NAME_CHARS:
                raise BadField(
                    field, f"{field} must hold strings of at most {MAX_NAME_CHARS} characters, got {show(item)}"
                )
            item = " ".join(clean_text(item).split())
            if item:
                tags.add(item)
    return tuple(sorted(tags)[:MAX_TAGS])


def _article_id(record: dict) -> str:
    value = record.get("article_id")
    if value is None or value == "":
        return ""
    text = clean_text(value).strip() if isinstance(value, str) else ""
    if not text or len(value) > 100:
        raise BadField("article_id", f"article_id must be a string of 1 to 100 characters, got {show(value)}")
    return text


def parse_newsdata_article(record: Any, *, fetched_at: datetime) -> RawEvent | ParseFailure:
    """One NewsData.io result -> RawEvent, or a ParseFailure naming the field."""
    if not isinstance(record, dict):
        return ParseFailure(
            NEWSDATA, "", "article", f"an article must be a JSON object, got {type(record).__name__}", excerpt(record)
        )
    external_id = ""
    try:
        external_id = _article_id(record)
        url, domain = _url(record, "link")
        external_id = external_id or _url_id(url)
        title = _text(record, "title", required=True, limit=MAX_TITLE_CHARS)
        description = _text(record, "description", required=False, limit=MAX_DESCRIPTION_CHARS)
        published_at = _published(record, "pubDate")  # "YYYY-MM-DD HH:MM:SS", UTC
        source_name = _text(record, "source_name", required=False, limit=MAX_NAME_CHARS) or _text(
            record, "source_id", required=False, limit=MAX_NAME_CHARS
        )
        keywords = _tags(record, "category", "keywords")
    except BadField as bad:
        return ParseFailure(
            NEWSDATA, external_id, bad.field, f"article {external_id or '?'}: {bad.reason}", excerpt(record)
        )
    return _event(
        NEWSDATA,
        external_id,
        title=title,
        description=description,
        url=url,
        domain=domain,
        published_at=published_at,
        source_name=source_name or domain,
        fetched_at=fetched_at,
        keywords=keywords,
    )


def parse_newsdata(payload: Any, *, fetched_at: datetime) -> list[RawEvent | ParseFailure]:
    """Decoded NewsData.io JSON -> one RawEvent or ParseFailure per result, in reply order."""
    if fetched_at.tzinfo is None:
        raise ValueError("fetched_at must be timezone-aware (UTC)")
    expected = 'a JSON object {"status": "success", "results": [...]}'
    if not isinstance(payload, dict):
        raise not_the_reply("NewsData", expected, f"it is a JSON {json_type(payload)}", payload)
    status = payload.get("status")
    results = payload.get("results")
    if status == "error":
        error = results if isinstance(results, dict) else {}
        raise _error_reply("NewsData", error.get("code"), error.get("message"), payload)
    if "status" not in payload:
        raise not_the_reply("NewsData", expected, "the key 'status' is missing", payload)
    if status != "success":
        raise not_the_reply("NewsData", expected, f"status is {show(status)}, not 'success' or 'error'", payload)
    if not isinstance(results, list):
        problem = "the key 'results' is missing" if "results" not in payload else "'results' is not an array"
        raise not_the_reply("NewsData", expected, problem, payload)
    return [parse_newsdata_article(record, fetched_at=fetched_at) for record in results]


def _error_reply(source: str, code: Any, message: Any, payload: Any) -> ValueError:
    """A source's own error envelope, said in its words; one without words shows what came."""
    if code is None and message is None:
        return not_the_reply(
            source, "an error with a code or a message", "it reports an error but says nothing", payload
        )
    parts = ([f"code {message_text(code)}"] if code is not None else []) + (
        [message_text(message)] if message is not None else []
    )
    return ValueError(f"{source} replied with an error: {': '.join(parts)}"[:1000])
