"""Helpers of the replica tests (ports, nginx presence)."""
from __future__ import annotations

import random
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def nginx_present() -> bool:
    return shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()


needs_nginx = pytest.mark.skipif(not nginx_present(), reason="nginx is missing (scripts/check_nginx.sh installs it)")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_block(size: int) -> int:
    """A first port with `size` free ports after it."""
    for _ in range(200):
        base = random.randrange(20000, 40000, 10)
        if all(_free(base + offset) for offset in range(size)):
            return base
    raise RuntimeError("no free block of ports")
