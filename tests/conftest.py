"""Shared test set-up: the `root` marker skips with a reason when not root."""

from __future__ import annotations

import os

import pytest
from paths import FIXTURES


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (network namespaces, tracefs or nftables)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def fixture_path():
    def path(*parts: str) -> str:
        return os.path.join(FIXTURES, *parts)

    return path


@pytest.fixture
def netns():
    """Factory: ``with netns(sysctls) as name:`` gives a fresh sl- namespace (root)."""
    from netns_util import temp_netns

    return temp_netns
