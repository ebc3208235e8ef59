"""Screenshots of the materialised asset pages in the real Dagster UI, taken by headless Chromium.

Makes two days of sample data in a temporary data root, starts the webserver on it, materialises the whole
chain through the webserver's GraphQL API (as the Materialize button does), then opens, in headless Chromium
driven over the DevTools protocol, each asset page and the plot that its metadata holds (the UI shows a
markdown metadata entry behind its "[Show Markdown]" button, so the script presses it), saves the
screenshots, and stops the browser and the server:

    docs/latents_asset.png      latent_vectors: the latent space coloured by time
    docs/autoencoder_asset.png  autoencoder: the loss curve

    PYTHONPATH=. .venv/bin/python scripts/screenshot.py [--epochs 8]

Needs Chromium (`apt-get install -y chromium`, or CHROMIUM=/path/to/chrome); `websockets` comes with
dagster-webserver (uvicorn).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import PROJECT_ROOT, SAMPLE_DAYS, TINY_RUN_CONFIG, make_sample_root
from tests.webserver import Webserver, free_port

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
WIDTH, HEIGHT = 1400, 1100
# (asset page, metadata key whose plot to open, output file)
SHOTS = [("audit_latents", "latent_space_by_time", "latents_asset.png"),
         ("autoencoder", "loss_curve", "autoencoder_asset.png")]

# Press the "[Show Markdown]" button in the metadata row labelled `key`; true once pressed.
PRESS = """(() => {
  const rows = [...document.querySelectorAll('tr')].filter(r => r.firstElementChild &&
      r.firstElementChild.textContent.trim() === %s);
  for (const row of rows) {
    const button = [...row.querySelectorAll('a, button')].find(b => b.textContent.includes('Show Markdown'));
    if (button) { button.click(); return true; }
  }
  return false;
})()"""
PLOT_SHOWN = "[...document.querySelectorAll('img')].some(i => i.src.startsWith('data:image/png') && i.complete)"


class Page:
    """One Chromium tab over the DevTools protocol."""

    def __init__(self, ws):
        self.ws, self.next_id = ws, 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def evaluate(self, js: str):
        return self.call("Runtime.evaluate", expression=js, returnByValue=True)["result"].get("value")

    def wait_for(self, js: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(js):
                return
            time.sleep(0.5)
        raise TimeoutError(f"page never satisfied: {js[:120]}")


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


def shoot(page: Page, url: str, key: str, out: Path) -> None:
    page.call("Page.navigate", url=url)
    page.wait_for(f"document.body && document.body.innerText.includes({json.dumps(key)}) && "
                  "document.body.innerText.includes('Show Markdown')")
    time.sleep(1)  # let the page settle its layout
    page.wait_for(PRESS % json.dumps(key), timeout=20)
    try:
        page.wait_for(PLOT_SHOWN, timeout=20)
    except TimeoutError:
        failed = out.with_name(f"failed_{out.name}")
        failed.write_bytes(base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"]))
        raise TimeoutError(f"no plot shown after pressing Show Markdown of {key}; the page is in {failed}") from None
    time.sleep(1)
    png = page.call("Page.captureScreenshot", format="png")["data"]
    out.write_bytes(base64.b64decode(png))
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(PROJECT_ROOT / "docs"))
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("no chromium found: apt-get install -y chromium, or set CHROMIUM")
    run_config = copy.deepcopy(TINY_RUN_CONFIG)
    run_config["ops"]["autoencoder"]["config"]["epochs"] = args.epochs

    with tempfile.TemporaryDirectory(prefix="latents-ui-") as tmp:
        tmp = Path(tmp)
        data_root = make_sample_root(tmp)
        with Webserver(data_root, tmp / "dagster_home", tmp / "webserver.log") as server:
            server.wait_until_loaded()
            runs = [("ingest_days", {}, {"dagster/partition": day}) for day in SAMPLE_DAYS]
            runs.append(("retrain", run_config, {}))
            for job, config, tags in runs:  # the days, then the training, as the nightly run does
                run_id = server.launch_job(job, config, tags)
                print(f"run {run_id}: {job} {tags} on {data_root}", flush=True)
                status = server.wait_for_run(run_id, timeout=600)
                if status != "SUCCESS":
                    sys.exit(f"run {run_id} ended {status}\n{server.log_tail()}")
            browser, ws_url = start_chromium(chromium, tmp / "chromium")
            try:
                with connect(ws_url, max_size=64 * 2**20, open_timeout=30) as ws:
                    page = Page(ws)
                    page.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT,
                              deviceScaleFactor=1, mobile=False)
                    for asset, key, name in SHOTS:
                        shoot(page, f"{server.url}/assets/{asset}", key, Path(args.out_dir) / name)
            finally:
                os.killpg(browser.pid, signal.SIGTERM)
                try:
                    browser.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(browser.pid, signal.SIGKILL)
                    browser.wait(timeout=10)


if __name__ == "__main__":
    main()
