"""What a production topology is made of: its ports, where it keeps its state, how Temporal is set up.

Saved as `<state dir>/topology.json` by `up`, so `down`, `status` and a later `up` act on the same
topology without being told its ports again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import timedelta
from pathlib import Path

from devstack.ports import free_ports

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = ROOT / ".run" / "prod"
HOST = "127.0.0.1"  # everything listens on loopback only


@dataclass(frozen=True)
class Ports:
    """Every port of the topology. The defaults stay clear of the dev stack's (Temporal 7233, its UI 8233,
    the API 8000, the sandboxes 12111-12113) and of a system PostgreSQL (5432), so both can run at once."""

    postgres: int = 15432
    temporal_frontend: int = 17233  # the gRPC address clients use
    temporal_frontend_http: int = 17243
    temporal_history: int = 17234
    temporal_matching: int = 17235
    temporal_worker: int = 17239  # Temporal's own system worker service, not ours
    temporal_frontend_membership: int = 16933
    temporal_history_membership: int = 16934
    temporal_matching_membership: int = 16935
    temporal_worker_membership: int = 16939
    temporal_metrics: int = 19090  # Prometheus; the template's 127.0.0.1:8000 is the dev API's port
    ui: int = 18233
    api: int = 18000  # the one port clients call; the balancer spreads it over the API processes
    api_processes: tuple[int, ...] = (18001, 18002)
    worker_health: tuple[int, ...] = (18101, 18102)  # each worker's /livez, /readyz, /metrics
    sdk_metrics: tuple[int, ...] = (18201, 18202, 18203, 18204)  # the SDK's Prometheus: workers, then API processes
    stripe: int = 13111
    shippo: int = 13112
    shop: int = 13113
    redis: int = 16379  # the portal's lookup limits, shared by the API processes

    @classmethod
    def free(cls, api_processes: int = 2, workers: int = 2) -> Ports:
        """Ports free right now, all distinct (for tests); devstack/ports.py says where they come from."""
        counts = {"api_processes": api_processes, "worker_health": workers, "sdk_metrics": workers + api_processes}
        singles = [f.name for f in fields(cls) if f.name not in counts]
        numbers = iter(free_ports(len(singles) + sum(counts.values())))
        chosen: dict[str, object] = {name: next(numbers) for name in singles}
        chosen.update({name: tuple(next(numbers) for _ in range(count)) for name, count in counts.items()})
        return cls(**chosen)  # type: ignore[arg-type]

    def all_numbers(self) -> list[int]:
        numbers: list[int] = []
        for value in vars(self).values():
            numbers.extend(value if isinstance(value, tuple) else [value])
        return numbers


@dataclass(frozen=True)
class TopologyConfig:
    state_dir: Path = DEFAULT_STATE_DIR
    ports: Ports = field(default_factory=Ports)
    history_shards: int = 4  # fixed for the life of the cluster: Temporal can't change it later
    namespace: str = "default"
    retention: timedelta = timedelta(days=30)  # a closed return's history (its audit trail) is kept this long
    workers: int = 2
    # A stopping worker's running activities get this long; the supervisor's stop waits longer (30 s).
    graceful_shutdown: timedelta = timedelta(seconds=20)
    mtls: bool = False  # the frontend asks every client for a certificate signed by the topology's CA
    ui: bool = True
    server_environment: str = "production"  # name of the rendered Temporal config (`--env`)
    tls_server_name: str = "temporal-frontend"  # the name in the frontend's certificate

    def __post_init__(self) -> None:
        if self.history_shards < 1:
            raise ValueError("history_shards must be at least 1")
        if self.workers < 1 or not self.ports.api_processes:
            raise ValueError("the topology needs at least one worker and one API process")
        if len(self.ports.worker_health) < self.workers:
            raise ValueError("each worker needs a health port")
        if len(self.ports.sdk_metrics) < self.workers + len(self.ports.api_processes):
            raise ValueError("each worker and API process needs an SDK metrics port")
        if self.retention < timedelta(days=1):
            raise ValueError("Temporal refuses a retention under one day")

    @property
    def state_file(self) -> Path:
        return self.state_dir / "topology.json"

    def save(self) -> None:
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        data["retention"] = self.retention.total_seconds()
        data["graceful_shutdown"] = self.graceful_shutdown.total_seconds()
        self.state_file.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, state_dir: Path) -> TopologyConfig:
        data = json.loads((state_dir / "topology.json").read_text())
        ports = {name: tuple(value) if isinstance(value, list) else value for name, value in data.pop("ports").items()}
        return cls(
            **{
                **data,
                "state_dir": Path(data["state_dir"]),
                "ports": Ports(**ports),
                "retention": timedelta(seconds=data["retention"]),
                "graceful_shutdown": timedelta(seconds=data.get("graceful_shutdown", 20)),
            }
        )
