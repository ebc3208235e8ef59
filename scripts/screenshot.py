"""Screenshots of the materialised asset pages in the real Dagster UI, and of the latent views the pipeline
wrote, taken by headless Chromium.

Makes two days of sample data in a temporary data root, starts the webserver on it, materialises the whole
chain through the webserver's GraphQL API (as the Materialize button does), then opens, in headless Chromium
driven over the DevTools protocol (tests/browser.py), each asset page and the plot that its metadata holds (the
UI shows a markdown metadata entry behind its "[Show Markdown]" button, so the script presses it), then the
version's and the second day's latent views, saves the screenshots, and stops the browser and the server:

    docs/latents_asset.png      audit_latents: the latent space coloured by time
    docs/autoencoder_asset.png  autoencoder: the loss curve
    docs/latent_view.png        latent_view: the version's latent space, coloured by regime
    docs/day_view.png           day_latent_view: a day's space, its event clicked (its windows, its readings)

    PYTHONPATH=. .venv/bin/python scripts/screenshot.py [--epochs 8]
    PYTHONPATH=. .venv/bin/python scripts/screenshot.py --views data   # only the views, after scripts/pipeline.sh

Needs Chromium (`apt-get install -y chromium`, or CHROMIUM=/path/to/chrome); `websockets` comes with
dagster-webserver (uvicorn).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.store import load_artifact
from pipeline.versions import VersionStore
from pipeline.view import VIEW_FILE
from tests.browser import Page, browser_page, find_chromium
from tests.helpers import PROJECT_ROOT, SAMPLE_DAYS, TINY_RUN_CONFIG, make_sample_root
from tests.webserver import Webserver

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
        page.screenshot(failed)
        raise TimeoutError(f"no plot shown after pressing Show Markdown of {key}; the page is in {failed}") from None
    time.sleep(1)
    saved(page, out)


def saved(page: Page, out: Path) -> None:
    page.screenshot(out)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)", flush=True)


def shoot_view(page: Page, view: Path, out: Path, colour: str | None = None, event: bool = False) -> None:
    """A latent view the pipeline wrote: coloured by `colour`, its first event clicked when `event`."""
    page.call("Page.navigate", url=view.as_uri())
    page.wait_for("document.getElementById('map') && document.getElementById('map')._fullLayout !== undefined")
    if colour:
        page.evaluate(f"const c = document.getElementById('colour'); c.value = [...c.options].find(o => o.text === "
                      f"{json.dumps(colour)}).value; c.onchange()")
    if event and page.evaluate("document.querySelector('#events tr.event') !== null"):
        page.evaluate("document.querySelector('#events tr.event').click()")
    time.sleep(2)
    saved(page, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(PROJECT_ROOT / "docs"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--views", type=Path, help="only the latent views, of this data root (e.g. data, after "
                                                   "scripts/pipeline.sh): no webserver, no runs")
    args = parser.parse_args()
    chromium = find_chromium()
    if not chromium:
        sys.exit("no chromium found: apt-get install -y chromium, or set CHROMIUM")
    if args.views:
        with tempfile.TemporaryDirectory(prefix="latents-views-") as tmp, \
                browser_page(chromium, Path(tmp) / "chromium") as page:
            shoot_views(page, args.views.resolve(), Path(args.out_dir))
        return
    run_config = copy.deepcopy(TINY_RUN_CONFIG)
    run_config["ops"]["autoencoder"]["config"]["epochs"] = args.epochs
    # the sample's bearing fault lies inside its training span: the default level detector calls it normal,
    # the reconstruction error flags its peak, so the pages have events to show
    run_config["ops"]["autoencoder"]["config"]["detector"] = "autoencoder"
    out = Path(args.out_dir)

    with tempfile.TemporaryDirectory(prefix="latents-ui-") as tmp:
        tmp = Path(tmp)
        data_root = make_sample_root(tmp)
        with Webserver(data_root, tmp / "dagster_home", tmp / "webserver.log") as server:
            server.wait_until_loaded()
            runs = [("ingest_days", {}, {"dagster/partition": day}) for day in SAMPLE_DAYS]
            runs.append(("retrain", run_config, {}))
            runs.append(("score_days", {}, {"dagster/asset_partition_range_start": SAMPLE_DAYS[0],
                                            "dagster/asset_partition_range_end": SAMPLE_DAYS[-1]}))
            for job, config, tags in runs:  # the days, the training, the scoring, as the nightly run does
                run_id = server.launch_job(job, config, tags)
                print(f"run {run_id}: {job} {tags} on {data_root}", flush=True)
                status = server.wait_for_run(run_id, timeout=600)
                if status != "SUCCESS":
                    sys.exit(f"run {run_id} ended {status}\n{server.log_tail()}")
            with browser_page(chromium, tmp / "chromium") as page:
                for asset, key, name in SHOTS:
                    shoot(page, f"{server.url}/assets/{asset}", key, out / name)
                shoot_views(page, data_root, out)


def shoot_views(page: Page, data_root: Path, out: Path) -> None:
    """The published version's view coloured by regime, and the view of the day with the most events (a short
    training may flag none on some day), its first event clicked when it has one."""
    shoot_view(page, VersionStore(data_root).published() / "latent_view" / VIEW_FILE, out / "latent_view.png",
               colour="regime")
    days = sorted(p.name for p in (data_root / "store" / "day_latent_view").iterdir() if not p.name.startswith("."))
    events = {d: len(load_artifact(data_root / "store" / "anomaly_events" / d)) for d in days}
    day = max(days, key=events.get)
    shoot_view(page, data_root / "store" / "day_latent_view" / day / VIEW_FILE, out / "day_view.png",
               event=events[day] > 0)


if __name__ == "__main__":
    main()
