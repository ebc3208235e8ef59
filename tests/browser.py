"""Headless Chromium driven over the DevTools protocol: used by the view test and by scripts/screenshot.py.
Every wait is bounded; the browser's process group is stopped on exit. Needs Chromium (`apt-get install -y
chromium`, or CHROMIUM=/path/to/chrome); `websockets` comes with dagster-webserver (uvicorn)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.webserver import free_port

# SwiftShader: WebGL (Plotly's 3-D scatter) in software, on a machine without a GPU
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--allow-file-access-from-files"]
WIDTH, HEIGHT = 1400, 1100


def find_chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One Chromium tab over the DevTools protocol; `errors` collects the page's uncaught exceptions."""

    def __init__(self, ws):
        self.ws, self.next_id, self.errors = ws, 0, []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("method") == "Runtime.exceptionThrown":
                self.errors.append(msg["params"]["exceptionDetails"].get("exception", {}).get("description", msg))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def evaluate(self, js: str):
        result = self.call("Runtime.evaluate", expression=js, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{js[:80]}: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    def wait_for(self, js: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(js):
                return
            time.sleep(0.3)
        raise TimeoutError(f"page never satisfied: {js[:120]}")

    def mouse(self, kind: str, x: float, y: float, buttons: int = 1) -> None:
        self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left" if buttons else "none",
                  buttons=buttons, clickCount=1)

    def screenshot(self, out: Path) -> None:
        out.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))


def start_chromium(chromium: str, profile: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                             f"--remote-debugging-port={port}", f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as resp:
                pages = [t for t in json.loads(resp.read()) if t["type"] == "page"]
            if pages:
                return proc, pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    raise TimeoutError("chromium did not open its DevTools port")


@contextmanager
def browser_page(chromium: str, profile: Path):
    """A page of a fresh headless Chromium, sized WIDTH x HEIGHT, reporting its exceptions."""
    from websockets.sync.client import connect

    proc, ws_url = start_chromium(chromium, profile)
    try:
        with connect(ws_url, max_size=64 * 2**20, open_timeout=30) as ws:
            page = Page(ws)
            page.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1,
                      mobile=False)
            page.call("Runtime.enable")
            yield page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
