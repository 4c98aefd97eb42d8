"""Run the emulator on a real 127.0.0.1 port in a background thread, and describe it in a kubeconfig.

Why: the code under test is synchronous (the official client, KubernetesHook, kubectl and the Flink
CLI are separate processes), so the aiohttp server must live in its own event loop and thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kmock import Server

from tests.kube.emulator import KubeEmulator

T = TypeVar("T")
DUMMY_TOKEN = "emulator-token"  # the emulator accepts any credentials; clients insist on some


class EmulatorServer:
    """A started `KubeEmulator` on 127.0.0.1:<free port>; `stop()` ends watches and the thread."""

    def __init__(self, emulator: KubeEmulator | None = None) -> None:
        self.emulator = emulator or KubeEmulator()
        self._loop = asyncio.new_event_loop()
        self._ready: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="k8s-emulator", daemon=True)
        self.url = ""

    def start(self, timeout: float = 30.0) -> EmulatorServer:
        # One INFO line per request floods the task logs of DAG tests (the kubelet polls, Flink watches).
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
        self._thread.start()
        self.url = self._ready.result(timeout=timeout)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            if not self._ready.done():
                self._ready.set_exception(exc)
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with self.emulator, Server(self.emulator) as server:
            self._ready.set_result(str(server.url).rstrip("/"))
            await self._stop.wait()
            self.emulator.close_watches()
            await asyncio.sleep(0)

    def call(self, fn: Callable[[KubeEmulator], T], timeout: float = 10.0) -> T:
        """Run `fn(emulator)` inside the server's loop (the store is not thread-safe)."""
        async def _in_loop() -> T:
            async with self.emulator._lock:
                return fn(self.emulator)
        return asyncio.run_coroutine_threadsafe(_in_loop(), self._loop).result(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": "emulator", "preferences": {},
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": DUMMY_TOKEN}}],
            "contexts": [{"name": "emulator",
                          "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace}}],
        }

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(namespace), sort_keys=False))
        return path
