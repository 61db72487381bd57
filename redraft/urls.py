"""URLs as they may be shown: an endpoint's credentials never reach a terminal or a log."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

HIDDEN = "***"


def shown_url(url: str) -> str:
    """`url` with the user name and password in it (`http://user:pass@host`) hidden.

    >>> shown_url("http://ann:s3cret@gpu:8000/v1")
    'http://***@gpu:8000/v1'
    >>> shown_url("http://127.0.0.1:8089/v1"), shown_url("tok@api.example.com/v1")
    ('http://127.0.0.1:8089/v1', '***@api.example.com/v1')
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL at all: it may still hold a secret
        return HIDDEN if "@" in url else url
    if "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{HIDDEN}@{host}"))
    head, slash, rest = url.partition("/")  # no scheme: `user:pass@host/v1`
    if "@" in head:
        return f"{HIDDEN}@{head.rsplit('@', 1)[1]}{slash}{rest}"
    return url
