"""The latent views the pipeline writes, opened in headless Chromium (tests/browser.py): the plot renders with
every point the page says it holds, hovering a point names its window, clicking it draws that window's
readings and reconstruction, a box selection lists the windows under it, and an event leads to its windows.
Needs Chromium (`apt-get install -y chromium`; `.ci/run` installs it)."""

import json
import time

import numpy as np
import pytest

from pipeline.versions import VersionStore
from tests.browser import browser_page, find_chromium
from tests.helpers import SAMPLE_DAYS, TINY_RUN_CONFIG, materialize
from tests.test_view import payload

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(find_chromium() is None, reason="no Chromium: apt-get install -y chromium")]

MAP = "document.getElementById('map')"
RENDERED = f"{MAP} && {MAP}.data !== undefined && {MAP}._fullLayout !== undefined"
# the pixel of point i of the 2-D plot, in the page
PIXEL = f"""(i => {{ const gd = {MAP}, L = gd._fullLayout, r = gd.getBoundingClientRect();
  return [r.left + L._size.l + L.xaxis.l2p(gd.data[0].x[i]), r.top + L._size.t + L.yaxis.l2p(gd.data[0].y[i])];
}})(%d)"""
PLOT_AREA = f"""(() => {{ const gd = {MAP}, L = gd._fullLayout, r = gd.getBoundingClientRect();
  return [r.left + L._size.l, r.top + L._size.t, r.left + L._size.l + L._size.w, r.top + L._size.t + L._size.h];
}})()"""


def iso(ms: int) -> str:
    return str(np.datetime64(ms, "ms").astype("datetime64[s]")).replace("T", " ")


def loneliest(data: dict) -> int:
    """The point of the z_0 / z_1 plot farthest from its nearest neighbour (hovering it can only mean it)."""
    xy = np.array(data["z"][:2]).T
    xy = (xy - xy.min(axis=0)) / np.ptp(xy, axis=0)
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=-1))
    np.fill_diagonal(d, np.inf)
    return int(d.min(axis=1).argmax())


def open_view(page, path) -> dict:
    page.call("Page.navigate", url=path.as_uri())
    page.wait_for(RENDERED, timeout=60)
    return payload(path.read_text())


def test_the_views_render_and_lead_from_a_point_or_an_event_to_the_readings(data_root, tmp_path):
    # the sample's bearing fault lies inside its training span: the level detector (the default) calls it
    # normal, the autoencoder's reconstruction error flags its peak, which gives the second day an event
    ops = {**TINY_RUN_CONFIG["ops"], "autoencoder": {"config": {**TINY_RUN_CONFIG["ops"]["autoencoder"]["config"],
                                                                "detector": "autoencoder"}}}
    result = materialize(data_root, run_config={"ops": ops})
    assert result.success
    version = VersionStore(data_root).published()
    views = [version / "latent_view" / "view.html", data_root / "store" / "day_latent_view" / SAMPLE_DAYS[-1] /
             "view.html", data_root / "views" / f"{SAMPLE_DAYS[0]}_{SAMPLE_DAYS[-1]}.html"]
    [shown] = result.asset_materializations_for_node("latent_view")
    with browser_page(find_chromium(), tmp_path / "chromium") as page:
        for path in views:
            data = open_view(page, path)
            assert page.evaluate(f"{MAP}.data[0].type") == "scatter3d"  # k = 3: the 3-D space first
            assert page.evaluate(f"{MAP}.data[0].x.length") == data["n"] > 0
            page.wait_for(f"{MAP}.querySelector('canvas') !== null", timeout=30)  # WebGL drew it
        assert open_view(page, views[0])["n"] == shown.metadata["points"].value
        for path in views[:2]:  # the version's and the day's pages say what the novelty dimension is
            open_view(page, path)
            assert "z_2 is the window's novelty" in page.evaluate("document.getElementById('notes').innerText")

        data = open_view(page, views[1])
        n, sensors = data["n"], data["sensors"]
        page.evaluate("document.getElementById('axes').value = 1; document.getElementById('axes').onchange()")
        page.wait_for(f"{MAP}.data[0].type === 'scatter' && "
                      f"{MAP}.querySelectorAll('.scatterlayer .point').length === {n}", timeout=30)
        # hover: the label names the window under the mouse
        i = loneliest(data)
        x, y = page.evaluate(PIXEL % i)
        page.mouse("mouseMoved", x, y, buttons=0)
        page.wait_for("document.querySelector('.hoverlayer .hovertext') !== null", timeout=10)
        label = page.evaluate("document.querySelector('.hoverlayer .hovertext').textContent")
        assert iso(data["start"][i]) in label and f"top sensor {sensors[data['top_sensors'][i][0]]}" in label
        # click: the window's readings and their reconstruction, for its three sensors of largest error
        page.mouse("mousePressed", x, y)
        page.mouse("mouseReleased", x, y)
        page.wait_for("window.shownWindow !== undefined", timeout=10)
        assert page.evaluate("window.shownWindow") == i
        assert iso(data["start"][i]) in page.evaluate("document.getElementById('window').innerText")
        traces = page.evaluate("document.getElementById('traces').data.map(t => [t.name, t.y.length])")
        assert traces == [[name, data["window_length"]] for _ in range(3) for name in ("readings", "reconstruction")]
        # a box over the whole plot selects every window
        page.evaluate(f"Plotly.relayout({MAP}, {{dragmode: 'select'}})")
        left, top, right, bottom = page.evaluate(PLOT_AREA)
        page.mouse("mousePressed", left + 1, top + 1)
        for k in range(1, 11):
            page.mouse("mouseMoved", left + 1 + k * (right - left - 2) / 10, top + 1 + k * (bottom - top - 2) / 10)
        page.mouse("mouseReleased", right - 1, bottom - 1)
        page.wait_for("document.getElementById('selection').innerText.includes('window(s) selected')", timeout=10)
        assert f"{n} window(s) selected" in page.evaluate("document.getElementById('selection').innerText")
        # an event: its windows listed, its peak window drawn
        assert data["events"], "the sample's second day has an event"
        event = data["events"][0]
        page.evaluate("document.querySelector('#events tr.event').click()")
        time.sleep(0.5)
        peak = page.evaluate("window.shownWindow")
        assert abs(data["end"][peak] - event["peak_at"]) <= 60_000 * data["window_length"]
        inside = sum(event["start"] <= e <= event["end"] for e in data["end"])
        assert f"{inside} window(s) selected" in page.evaluate("document.getElementById('selection').innerText")
        # every colouring draws
        options = page.evaluate("[...document.getElementById('colour').options].map(o => o.text)")
        assert {"regime", "anomaly score (log10)", f"mean of {sensors[0]}"} <= set(options)
        for k in range(len(options)):
            page.evaluate(f"document.getElementById('colour').value = {k}; "
                          "document.getElementById('colour').onchange()")
        assert page.evaluate(f"{MAP}.data[0].marker.color.length") == n
        page.screenshot(tmp_path / "view.png")
        assert page.errors == [], json.dumps(page.errors)
