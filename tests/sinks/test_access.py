"""The exporter's token file and TLS certificate, checked at start-up: one line each."""

from __future__ import annotations

import os

import pytest
from exporter_util import OPENSSL, self_signed

from harness.errors import UsageProblem
from harness.sinks.access import TOKEN_MAX, read_token, tls_context


def test_a_token_file_gives_its_token_without_the_newline(tmp_path):
    path = tmp_path / "token"
    path.write_text("  abc-DEF_123.~+/=\n\n")
    path.chmod(0o640)  # a group may read it
    assert read_token(str(path)) == "abc-DEF_123.~+/="


@pytest.mark.parametrize("content, mode, needle", [
    ("tok\n", 0o644, "is open to every user (mode 0644): chmod o-rw"),
    ("tok\n", 0o602, "is open to every user (mode 0602)"),
    ("", 0o600, "is empty"),
    (" \n\n", 0o600, "is empty"),
    ("two words\n", 0o600, "must hold one token"),
    ("one\ntwo\n", 0o600, "must hold one token"),
    ("t\u00f6ken\n", 0o600, "must hold one token"),
    ("x" * (TOKEN_MAX + 1), 0o600, f"is over {TOKEN_MAX} bytes"),
])
def test_a_bad_token_file(tmp_path, content, mode, needle):
    path = tmp_path / "token"
    path.write_text(content)
    path.chmod(mode)
    with pytest.raises(UsageProblem, match=r"--token-file .*token") as got:
        read_token(str(path))
    assert needle in str(got.value) and "\n" not in str(got.value)


def test_a_missing_or_odd_token_file(tmp_path):
    with pytest.raises(UsageProblem, match="No such file or directory"):
        read_token(str(tmp_path / "absent"))
    with pytest.raises(UsageProblem, match="is not a regular file"):
        read_token(str(tmp_path))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageProblem, match="is not a regular file"):  # and does not block
        read_token(str(fifo))


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command (package openssl)")
def test_tls_files_that_do_not_fit(tmp_path):
    cert, key = self_signed(tmp_path)
    assert tls_context(str(cert), str(key)).check_hostname is False
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = self_signed(other)
    with pytest.raises(UsageProblem, match=r"cannot use --tls-cert .* with --tls-key") as got:
        tls_context(str(cert), str(other_key))  # a key of another certificate
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    with pytest.raises(UsageProblem, match="cannot use --tls-cert"):
        tls_context(str(cert), str(garbage))
    assert "\n" not in str(got.value) and "_ssl.c" not in str(got.value)
