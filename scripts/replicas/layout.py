"""Where things are: ports and folders of each replica."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scripts.replicas.state import Replica

REPO = Path(__file__).resolve().parents[2]
PORTS_PER_REPLICA = 10  # inference, management, metrics, gRPC x2, the nginx key adder


@dataclass(frozen=True)
class Ports:
    inference: int
    management: int
    metrics: int
    grpc_inference: int
    grpc_management: int
    keyed: int  # nginx's per-replica server that adds the replica's own key

    @classmethod
    def of(cls, base: int, index: int) -> Ports:
        first = base + PORTS_PER_REPLICA * (index - 1)
        return cls(*(first + offset for offset in range(6)))

    def all(self) -> list[int]:
        return [self.inference, self.management, self.metrics, self.grpc_inference,
                self.grpc_management, self.keyed]


def new_replica(state_dir: Path, base_port: int, index: int) -> Replica:
    """A replica's entry in the state (everything but its process)."""
    ports = Ports.of(base_port, index)
    return Replica(
        index=index, dir=str(state_dir / "replicas" / str(index)),
        inference=f"http://127.0.0.1:{ports.inference}", management=f"http://127.0.0.1:{ports.management}",
        metrics=f"http://127.0.0.1:{ports.metrics}", grpc_ports=(ports.grpc_inference, ports.grpc_management),
        keyed=f"127.0.0.1:{ports.keyed}")


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])
