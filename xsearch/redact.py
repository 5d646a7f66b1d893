"""Secrets never reach a config file, a log or W&B: passwords in URLs and values under secret-looking keys are
masked before anything is written.

A URL's password is cut by parsing its authority, not by a pattern for the usual case: a password may hold
`@`, `/` or `:` (`postgresql://me:p@ss/w:rd@host/db`), and a URL may have a password but no user
(`redis://:secret@host:6379`). Everything between the first `:` after the user and the last `@` is masked,
which may mask more than the password when a later part of the URL holds an `@`, never less.

A key is secret when one of its words is a secret's name (`db_password`, `WANDB_API_KEY`, `hfToken`), not when
such a name is only part of a word (`tokenizer`) or counts something (`max_tokens`, `num_passes`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
SECRET_WORDS = {"pwd", "passphrase", "credential", "credentials", "secrets"}
SECRET_ENDINGS = ("password", "passwd", "secret", "token", "apikey")  # also run together: PGPASSWORD, hftoken
SECRET_PAIRS = {("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key"), ("auth", "key")}


def secret_key(key: Any) -> bool:
    words = [w.lower() for w in _WORDS.findall(str(key))]
    return (any(w in SECRET_WORDS or w.endswith(SECRET_ENDINGS) for w in words)
            or any(pair in SECRET_PAIRS for pair in zip(words, words[1:])))


def _mask_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{REDACTED}@{host}"


def redact_text(text: str) -> str:
    """`text` with the password of every URL in it masked."""
    return _URL.sub(lambda match: _mask_url(match.group(0)), text)


def redact(value: Any) -> Any:
    """A copy with values under secret-looking keys masked and passwords cut out of URLs."""
    if isinstance(value, Mapping):
        return {k: REDACTED if secret_key(k) and v is not None else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str):
        return redact_text(value)
    return value
