"""Secrets never reach a config, a log or W&B: the URL and key cases a user's configs actually hold."""

import pytest

from xsearch.redact import REDACTED, redact, redact_text, secret_key


@pytest.mark.parametrize("url, secret, kept", [
    ("postgresql://me:p@ss@host/db", "p@ss", "postgresql://me:***@host/db"),  # '@' in the password
    ("postgresql://me:pa/ss@h/db", "pa/ss", "postgresql://me:***@h/db"),  # '/' in the password
    ("postgresql://me:pa:ss@h:5432/db", "pa:ss", "postgresql://me:***@h:5432/db"),  # ':' in the password
    ("redis://:secret@h:6379", "secret", "redis://:***@h:6379"),  # a password and no user
    ("postgresql+psycopg2://alice:hunter2@db.example:5432/optuna", "hunter2",
     "postgresql+psycopg2://alice:***@db.example:5432/optuna"),
])
def test_a_url_password_is_masked_whatever_it_holds(url, secret, kept):
    assert redact_text(url) == kept
    assert secret not in redact({"sweep": {"storage": url}})["sweep"]["storage"]


@pytest.mark.parametrize("text", [
    "postgresql://me@host/db",  # a user, no password
    "sqlite:////data/sweeps/separability/study.db",
    "https://wandb.ai/team/xsearch/runs/abc",
    "see ./outputs/2026-11-30 for details",
])
def test_text_without_a_password_is_left_as_it_is(text):
    assert redact_text(text) == text


def test_a_url_inside_a_log_line_is_masked_and_the_rest_of_the_line_kept():
    line = "storage postgresql://me:s3cr3t@db:5432/optuna refused: connection timed out"
    assert redact_text(line) == f"storage postgresql://me:{REDACTED}@db:5432/optuna refused: connection timed out"


@pytest.mark.parametrize("key", ["password", "db_password", "PGPASSWORD", "WANDB_API_KEY", "api_key", "apiKey",
                                 "hfToken", "token", "client_secret", "aws_secret_access_key", "private_key",
                                 "credentials", "passwd"])
def test_keys_that_name_a_secret_are_masked(key):
    assert secret_key(key)
    assert redact({key: "value"}) == {key: REDACTED}


@pytest.mark.parametrize("key", ["tokenizer", "max_tokens", "num_passes", "passes", "keyword", "monkey",
                                 "batch_size", "project", "storage", "secretary_count"])
def test_keys_that_only_contain_a_secrets_name_are_kept(key):
    assert not secret_key(key)
    assert redact({key: 7}) == {key: 7}


def test_nested_configs_are_masked_at_every_depth_and_nothing_else_changes():
    config = {"a": [{"db_password": "pw", "lr": 0.1}], "b": ("postgresql://u:x@h/d", 3), "c": None,
              "api_key": None}
    assert redact(config) == {"a": [{"db_password": REDACTED, "lr": 0.1}], "b": (f"postgresql://u:{REDACTED}@h/d", 3),
                              "c": None, "api_key": None}
