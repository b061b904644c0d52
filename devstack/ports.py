"""Free loopback ports for the processes of a local stack, a test or a test topology.

Drawn below the kernel's ephemeral range, for two reasons: a port from that range can be handed to
another process's outgoing connection or "any free port" listener (the Temporal dev server picks its
HTTP and metrics ports that way) between choosing it and binding it, and Temporal stores membership
ports in a SMALLINT column (at most 32767).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOWEST = 20000
_SMALLINT_CEILING = 32768


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports that nothing listens on right now, outside the ephemeral range."""
    ceiling = min(_ephemeral_low(), _SMALLINT_CEILING)
    chosen: list[int] = []
    for port in random.sample(range(_LOWEST, ceiling), k=ceiling - _LOWEST):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                continue
        chosen.append(port)
        if len(chosen) == count:
            return chosen
    raise RuntimeError(f"fewer than {count} free ports between {_LOWEST} and {ceiling}")


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768
