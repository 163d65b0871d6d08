"""Fixtures for the fetcher tests: real hostile servers and a fake public DNS."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from feeds import http as feeds_http
from tests.conftest import CORPORA, corpus_path
from tests.feeds.hostile import HostileServer

# Any 127/8 address works on Linux loopback; this one plays a *public* server
# in redirect tests, so 127.0.0.1 can stay forbidden.
PRETEND_PUBLIC_IP = "127.8.8.8"


def require_corpora() -> Path:
    return corpus_path()  # skips, saying why, only where ../shared is absent


@pytest.fixture(scope="session")
def hostile() -> Iterator[HostileServer]:
    server = HostileServer("127.0.0.1", corpus_root=CORPORA if CORPORA.is_dir() else None)
    yield server
    server.close()


@pytest.fixture(scope="session")
def public_server() -> Iterator[HostileServer]:
    server = HostileServer(PRETEND_PUBLIC_IP)
    yield server
    server.close()


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Map hostnames to addresses (the public internet's DNS, mocked); others resolve normally."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - socket's names
        name = host.decode() if isinstance(host, bytes) else host
        if name in table:
            results = []
            for address in table[name]:
                fam = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr = (address, port, 0, 0) if fam == socket.AF_INET6 else (address, port)
                results.append((fam, socket.SOCK_STREAM, 6, "", sockaddr))
            return results
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.fixture
def pretend_public(monkeypatch: pytest.MonkeyPatch) -> str:
    """Treat PRETEND_PUBLIC_IP as a public address; every other address keeps the real policy."""
    real = feeds_http.forbidden_reason
    monkeypatch.setattr(
        feeds_http, "forbidden_reason", lambda address: None if address == PRETEND_PUBLIC_IP else real(address)
    )
    return PRETEND_PUBLIC_IP
