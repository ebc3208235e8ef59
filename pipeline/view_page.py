"""The HTML and JavaScript of the latent-space view (pipeline.view fills in %TITLE%, %PLOTLY% and %DATA%).

Element ids the browser test relies on: #map (the latent plot), #colour and #axes (its controls), #window (the
clicked window's details), #traces (its readings and reconstruction), #selection (the selected windows),
#events (the events table)."""

PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%TITLE%</title>
<style>
 body { font: 13px system-ui, sans-serif; margin: 12px; color: #222; }
 h1 { font-size: 17px; margin: 0 0 4px; } .note { color: #555; margin: 2px 0; }
 #controls { margin: 8px 0; } #controls label { margin-right: 14px; }
 #main { display: flex; gap: 12px; } #map { flex: 3; height: 620px; min-width: 500px; }
 #side { flex: 2; min-width: 360px; } #traces { height: 380px; }
 table { border-collapse: collapse; font-size: 12px; } td, th { border-bottom: 1px solid #ddd; padding: 2px 6px; }
 #events tr.event { cursor: pointer; } #events tr.event:hover { background: #eef; }
 .scroll { max-height: 220px; overflow-y: auto; }
</style>
<script>%PLOTLY%</script>
</head><body>
<h1>%TITLE%</h1>
<div id="notes"></div>
<div id="controls">
 <label>colour by <select id="colour"></select></label>
 <label>axes <select id="axes"></select></label>
</div>
<div id="main">
 <div id="map"></div>
 <div id="side">
  <div id="window" class="note">Hover over a point for its window; click it for the readings behind it.</div>
  <div id="traces"></div>
  <h3>Selected windows</h3><div id="selection" class="note">Pick an axes pair, then drag a box or lasso over
   points to list their windows.</div>
 </div>
</div>
<h3>Events</h3><div id="events" class="scroll"></div>
<script type="application/json" id="data">%DATA%</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const N = D.n, W = D.window_length, S = D.sensors.length;
const REGIME_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                        "#bcbd22", "#17becf"];

function steps(b64) {
  const bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Uint16Array(bytes.buffer);
}
const READINGS = steps(D.readings), RECON = steps(D.reconstruction);
function trace(arr, i, s) {  // window i, sensor s, in raw units
  const out = new Array(W), lo = D.lo[s], span = D.hi[s] - D.lo[s];
  for (let t = 0; t < W; t++) out[t] = lo + arr[(i * W + t) * S + s] / 65535 * span;
  return out;
}
const iso = ms => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
const day = ms => new Date(ms).toISOString().slice(0, 10);
const fmt = v => v === null || v === undefined ? "n/a" : (Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3));

document.getElementById("notes").innerHTML = [D.sampling, ...D.notes].map(t => `<p class="note">${t}</p>`).join("");

// colourings: [label, values, kind]
const COLOURINGS = [["time (hours since the first window)", D.start.map(t => (t - D.start[0]) / 3.6e6), "scale"]];
const DAYS = [...new Set(D.start.map(day))];
if (DAYS.length > 1) COLOURINGS.push(["day", D.start.map(t => DAYS.indexOf(day(t))), "category", DAYS]);
if (D.score) COLOURINGS.push(["anomaly score (log10)", D.score.map(v => Math.log10(Math.max(v, 1e-3))), "scale"]);
COLOURINGS.push(["reconstruction error", D.error, "scale"]);
if (D.regime) {
  const ids = [...new Set(D.regime)].sort((a, b) => a - b);
  COLOURINGS.push(["regime", D.regime.map(r => ids.indexOf(r)), "category", ids.map(r => "regime " + r)]);
  COLOURINGS.push(["off every regime", D.off_regime.map(v => v ? 1 : 0), "category", ["in a regime", "off regime"]]);
}
D.sensors.forEach((s, k) => COLOURINGS.push([`mean of ${s}`, D.sensor_mean[k], "scale"]));
const colourSelect = document.getElementById("colour");
COLOURINGS.forEach((c, k) => colourSelect.add(new Option(c[0], k)));

const AXES = [];
if (D.dims >= 3) AXES.push([0, 1, 2]);
for (let a = 0; a < D.dims; a++) for (let b = a + 1; b < D.dims; b++) AXES.push([a, b]);
if (D.dims === 1) AXES.push([-1, 0]);
const axesSelect = document.getElementById("axes");
AXES.forEach((a, k) => axesSelect.add(new Option(a.map(d => d < 0 ? "time" : "z_" + d).join(" / "), k)));

const hover = D.start.map((t, i) => `window ${iso(t)} → ${iso(D.end[i])}` +
  `<br>score ${fmt(D.score ? D.score[i] : null)} · error ${fmt(D.error[i])}` +
  (D.regime ? `<br>regime ${D.regime[i]}${D.off_regime[i] ? " (off every regime)" : ""}` : "") +
  `<br>top sensor ${D.sensors[D.top_sensors[i][0]]}`);

function marker(k) {
  const [label, values, kind, names] = COLOURINGS[k];
  const m = {size: 3, color: values, colorbar: {title: {text: label, side: "right"}, thickness: 12}};
  if (kind === "category") {
    const n = names.length, scale = [];
    names.forEach((_, j) => { const c = REGIME_COLOURS[j % REGIME_COLOURS.length];
      scale.push([j / n, c], [(j + 1) / n, c]); });
    Object.assign(m, {colorscale: scale, cmin: -0.5, cmax: n - 0.5,
      colorbar: {...m.colorbar, tickvals: names.map((_, j) => j), ticktext: names}});
  } else m.colorscale = "Viridis";
  return m;
}

const map = document.getElementById("map");
function draw() {
  const axes = AXES[+axesSelect.value], k = +colourSelect.value;
  const coord = d => d < 0 ? D.start.map(t => new Date(t)) : D.z[d];
  const name = d => d < 0 ? "window start" : "z_" + d;
  const base = {mode: "markers", text: hover, hoverinfo: "text", marker: marker(k)};
  let data, layout = {margin: {l: 50, r: 10, t: 30, b: 40}, title: {text: COLOURINGS[k][0], font: {size: 13}},
                      uirevision: axes.join()};
  if (axes.length === 3) {
    data = [{...base, type: "scatter3d", x: D.z[axes[0]], y: D.z[axes[1]], z: D.z[axes[2]]}];
    layout.scene = {xaxis: {title: {text: name(axes[0])}}, yaxis: {title: {text: name(axes[1])}},
                    zaxis: {title: {text: name(axes[2])}}};
  } else {
    data = [{...base, type: "scatter", x: coord(axes[0]), y: coord(axes[1])}];
    Object.assign(layout, {dragmode: "lasso", xaxis: {title: {text: name(axes[0])}},
                           yaxis: {title: {text: name(axes[1])}}});
  }
  Plotly.react(map, data, layout, {displaylogo: false, responsive: true});
}
colourSelect.onchange = draw;
axesSelect.onchange = draw;  // the plot's listeners outlive Plotly.react

function showWindow(i) {
  document.getElementById("window").innerHTML = `<b>window ${iso(D.start[i])} → ${iso(D.end[i])}</b><br>` +
    hover[i].split("<br>").slice(1).join(" · ");
  const shown = D.top_sensors[i];  // the sensors of largest detector figure first
  const step = W > 1 ? (D.end[i] - D.start[i]) / (W - 1) : 0;  // rows drawn evenly spaced from start to end
  const times = [...Array(W).keys()].map(t => new Date(D.start[i] + t * step));
  const data = [], layout = {grid: {rows: shown.length, columns: 1, pattern: "independent"}, showlegend: true,
    legend: {orientation: "h", y: 1.12}, margin: {l: 55, r: 10, t: 30, b: 35}, height: 380};
  shown.forEach((s, r) => {
    const ax = r === 0 ? "" : String(r + 1);
    data.push({x: times, y: trace(READINGS, i, s), xaxis: "x" + ax, yaxis: "y" + ax, name: "readings",
               legendgroup: "r", showlegend: r === 0, line: {color: "#1f77b4"}});
    data.push({x: times, y: trace(RECON, i, s), xaxis: "x" + ax, yaxis: "y" + ax, name: "reconstruction",
               legendgroup: "x", showlegend: r === 0, line: {color: "#d62728", dash: "dash"}});
    layout["yaxis" + ax] = {title: {text: D.sensors[s], font: {size: 11}}};
  });
  layout["xaxis" + (shown.length > 1 ? shown.length : "")] = {title: {text: "time (rows evenly spaced)"}};
  Plotly.react("traces", data, layout, {displaylogo: false});
  window.shownWindow = i;
}

function listSelection(indices) {
  const box = document.getElementById("selection");
  if (!indices.length) { box.textContent = "no window selected"; return; }
  const rows = indices.slice(0, 200).map(i => `<tr data-i="${i}"><td>${iso(D.start[i])}</td><td>${iso(D.end[i])}</td>` +
    `<td>${fmt(D.score ? D.score[i] : null)}</td><td>${D.regime ? D.regime[i] : ""}</td></tr>`).join("");
  box.innerHTML = `<p>${indices.length} window(s) selected` + (indices.length > 200 ? ", the first 200 listed" : "") +
    `</p><div class="scroll"><table><tr><th>start</th><th>end</th><th>score</th><th>regime</th></tr>${rows}` +
    "</table></div>";
  box.querySelectorAll("tr[data-i]").forEach(tr => tr.onclick = () => showWindow(+tr.dataset.i));
}

function listen() {
  map.on("plotly_click", ev => { if (ev.points.length) showWindow(ev.points[0].pointNumber); });
  map.on("plotly_selected", ev => listSelection(ev ? ev.points.map(p => p.pointNumber).sort((a, b) => a - b) : []));
}

function nearest(ms) {  // the shown window whose end is nearest `ms`
  let best = 0;
  for (let i = 1; i < N; i++) if (Math.abs(D.end[i] - ms) < Math.abs(D.end[best] - ms)) best = i;
  return best;
}
const ev = document.getElementById("events");
if (!D.events.length) ev.textContent = "no event in these windows";
else {
  ev.innerHTML = "<table><tr><th>start</th><th>end</th><th>peak score</th><th>top sensors</th></tr>" +
    D.events.map((e, j) => `<tr class="event" data-j="${j}"><td>${iso(e.start)}</td><td>${iso(e.end)}</td>` +
      `<td>${fmt(e.peak_score)}</td><td>${e.top}</td></tr>`).join("") + "</table>";
  ev.querySelectorAll("tr.event").forEach(tr => tr.onclick = () => {
    const e = D.events[+tr.dataset.j];
    const inside = [...Array(N).keys()].filter(i => D.end[i] >= e.start && D.end[i] <= e.end);
    Plotly.restyle(map, {selectedpoints: [inside]});
    listSelection(inside);
    showWindow(nearest(e.peak_at));
  });
}
if (N) { draw(); listen(); }
else document.getElementById("map").textContent = "no window to show";
</script>
</body></html>
"""
