"""A real ``canyu serve`` in a subprocess, for browser journeys and multi-worker races."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


class LiveServer:
    def __init__(
        self,
        database_url: str,
        smtp_port: int,
        var_dir: Path,
        *,
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        from conftest import TEST_SECRET, free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {
            **os.environ,
            "CANYU_DATABASE_URL": database_url,
            "CANYU_SECRET_KEY": TEST_SECRET,
            "CANYU_BASE_URL": self.url,
            "CANYU_SMTP_PORT": str(smtp_port),
            "CANYU_VAR_DIR": str(var_dir),
            "CANYU_OUTBOX_INTERVAL": "0.3",
            "CANYU_POW_DIFFICULTY": "0",
            **(extra_env or {}),
        }
        self.log_path = var_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        canyu = shutil.which("canyu", path=str(Path(sys.executable).parent)) or "canyu"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [canyu, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "server exited:\n" + self.log_path.read_text(errors="replace")[-4000:]
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            "server did not start:\n" + self.log_path.read_text(errors="replace")[-4000:]
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
