"""Settings helpers read the environment loudly: a value they cannot understand stops the start."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str


def test_booleans_accept_the_usual_spellings_and_refuse_the_rest(monkeypatch):
    for value, expected in [("1", True), ("yes", True), ("ON", True), ("0", False), ("false", False), ("", False)]:
        monkeypatch.setenv("SOME_FLAG", value)
        assert env_bool("SOME_FLAG", not expected) is expected
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env_bool("SOME_FLAG", False)


def test_integers_are_checked_against_their_range(monkeypatch):
    monkeypatch.setenv("SOME_PORT", "70000")
    with pytest.raises(ImproperlyConfigured, match="SOME_PORT=70000 is above"):
        env_int("SOME_PORT", 25, minimum=1, maximum=65535)
    monkeypatch.setenv("SOME_PORT", "twenty")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("SOME_PORT", 25)
    monkeypatch.delenv("SOME_PORT")
    assert env_int("SOME_PORT", 25) == 25


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example , b.example,, ")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]


def test_a_secret_can_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    monkeypatch.delenv("MY_SECRET", raising=False)
    monkeypatch.setenv("MY_SECRET_FILE", str(secret))
    assert env_str("MY_SECRET") == "s3cr3t"
    monkeypatch.setenv("MY_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="MY_SECRET_FILE"):
        env_str("MY_SECRET")
