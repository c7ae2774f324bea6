"""A thin kubectl wrapper for the cluster tests, and bounded waiting on conditions.

kubectl (built by scripts/cluster/build-k8s.sh) rather than a client library: the tests then
do exactly what an operator types, and the output of a failing command lands in the report.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 1.0) -> T:
    """Call ``probe`` until it returns something truthy (returned) or ``timeout`` s pass.

    Raises AssertionError naming ``what`` and the last exception the probe raised, if any.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except (subprocess.CalledProcessError, OSError, AssertionError, ValueError) as exc:
            last = exc
        if time.monotonic() > deadline:
            detail = f": {last}" if last else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(every)


class KubectlError(subprocess.CalledProcessError):
    """A failed kubectl call; its message carries kubectl's own error output."""

    def __str__(self) -> str:
        return f"{super().__str__()}: {str(self.stderr).strip()[-2000:]}"


@dataclass
class Kube:
    """kubectl against one cluster; ``namespace`` is the default for namespaced calls."""

    kubectl: Path
    kubeconfig: Path
    namespace: str = "default"

    def run(
        self, *args: str, stdin: str | None = None, namespaced: bool = True, timeout: float = 120
    ) -> str:
        """kubectl's stdout; raises CalledProcessError (stderr attached) when it fails."""
        command = [str(self.kubectl), f"--kubeconfig={self.kubeconfig}"]
        if namespaced:
            command.append(f"--namespace={self.namespace}")
        result = subprocess.run(
            [*command, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise KubectlError(result.returncode, result.args, result.stdout, result.stderr)
        return result.stdout

    def get(self, *args: str, namespaced: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            self.run("get", *args, "-o", "json", namespaced=namespaced)
        )
        return data

    def apply(self, manifest: str, *extra: str, namespaced: bool = True) -> str:
        """Server-side apply; ``namespaced=False`` for documents naming their own namespaces."""
        return self.run(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            *extra,
            stdin=manifest,
            namespaced=namespaced,
        )

    def in_namespace(self, namespace: str) -> Kube:
        return Kube(self.kubectl, self.kubeconfig, namespace)

    def pods(self, selector: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get("pods", "-l", selector)["items"]
        return items

    def ready_pods(self, selector: str) -> list[str]:
        """Names of the running, Ready pods matching ``selector`` (not terminating)."""
        return [
            pod["metadata"]["name"]
            for pod in self.pods(selector)
            if pod["status"].get("phase") == "Running"
            and "deletionTimestamp" not in pod["metadata"]
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in pod["status"].get("conditions", [])
            )
        ]

    def rollout(self, kind_name: str, timeout: float = 300) -> None:
        self.run("rollout", "status", kind_name, f"--timeout={int(timeout)}s", timeout=timeout + 30)

    def service_ip(self, name: str) -> str:
        ip: str = self.get("service", name)["spec"]["clusterIP"]
        return ip

    def logs(self, selector: str, tail: int = 40) -> str:
        try:
            return self.run(
                "logs", "-l", selector, f"--tail={tail}", "--all-containers", "--prefix"
            )
        except subprocess.CalledProcessError as exc:
            return f"(no logs: {exc.stderr})"
