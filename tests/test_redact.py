"""Secret names: KEY, TOKEN, SECRET or PASSWORD anywhere in a name, any case."""

from __future__ import annotations

import pytest

from nb_mlops.redact import REDACTED, is_secret_name, redact_mapping, redact_value


@pytest.mark.parametrize(
    "name",
    [
        "api_key",
        "API_KEY",
        "OPENAI_API_KEY",
        "HF_TOKEN",
        "hf_token",
        "access_token",
        "db_password",
        "Password",
        "client_secret",
        "AWS_SECRET_ACCESS_KEY",
        "NB_MLOPS_SECRET_TOKEN",
        "apiKey",
        "max_tokens",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["lr", "model", "n_estimators", "OMP_NUM_THREADS", "passwd_hint", "tok", ""]
)
def test_plain_names(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("api_key", "sk-123", REDACTED),
        ("HF_TOKEN", "hf_abc", REDACTED),
        ("db_password", "", REDACTED),
        ("db_password", b"raw-bytes", REDACTED),
        ("max_tokens", 256, 256),
        ("max_tokens", 2.5, 2.5),
        ("api_key", None, None),
        ("use_key", True, True),
        ("model", "sk-looks-like-a-key", "sk-looks-like-a-key"),
        ("lr", 0.1, 0.1),
    ],
)
def test_redact_value(name: str, value, expected) -> None:
    assert redact_value(name, value) == expected


def test_redact_mapping_text_only_by_default() -> None:
    values = {"api_key": "sk-1", "max_tokens": 256, "model": "rf", "secret_n": 7}
    out = redact_mapping(values)
    assert out == {"api_key": REDACTED, "max_tokens": 256, "model": "rf", "secret_n": 7}
    assert values["api_key"] == "sk-1"  # the input is not changed
    assert out is not values


def test_redact_mapping_always_redacts_whatever_the_type() -> None:
    values = {"API_TOKEN": 12345, "PASSWORD": None, "LANG": "C.UTF-8"}
    assert redact_mapping(values, always=True) == {
        "API_TOKEN": REDACTED,
        "PASSWORD": REDACTED,
        "LANG": "C.UTF-8",
    }


def test_redact_mapping_keeps_order() -> None:
    values = {"b": 1, "api_key": "x", "a": 2}
    assert list(redact_mapping(values)) == ["b", "api_key", "a"]
