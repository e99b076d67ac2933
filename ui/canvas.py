"""The motion canvas: ordered freehand strokes drawn in the browser, sent to Python as JSON.

Gradio's ImageEditor returns raster layers only, which lose the order and direction of a stroke.
This ``gr.HTML`` canvas records every stroke as its list of points (one colour per stroke), an
optional "what moves" brush, and a click-to-add-points mode for when dragging is awkward. Its
value is the JSON ``vc_core.conditions.parse_drawing`` reads; Python sets the ``background`` prop (a
data URL of the picture, cropped square as the model sees it) and may set the value (examples).
"""
from __future__ import annotations

import base64
import io
import json

import gradio as gr
import numpy as np
from PIL import Image

from vc_core.conditions.previews import STROKE_COLOURS

CANVAS_SIZE = 512  # canvas pixels; strokes are rescaled to the model's size in vc_core.tasks

# The structure must not change with the props: a re-render patches the existing nodes, and a
# node that appeared or vanished would replace the canvas the script holds (losing the drawing).
_TEMPLATE = """
<div class="vc-canvas-tools">
  <label><input type="radio" name="vc-mode" value="stroke" checked> Draw motion</label>
  <label><input type="radio" name="vc-mode" value="region"> Paint what moves</label>
  <label><input type="radio" name="vc-mode" value="points"> Click points</label>
  <label class="vc-radius-label">brush <input class="vc-radius" type="range" min="8" max="96" value="32"></label>
  <button type="button" class="vc-end">End path</button>
  <button type="button" class="vc-undo">↶ Undo</button>
  <button type="button" class="vc-clear">Clear</button>
</div>
<div class="vc-canvas-box">
  <img class="vc-canvas-bg" alt="" ${background ? 'src="' + background + '"' : 'hidden'}>
  <canvas class="vc-canvas" width="${size}" height="${size}" aria-label="motion drawing canvas"></canvas>
</div>
<div class="vc-canvas-help">Drag from the thing that should move to where it should go; each stroke
is one moving thing, in order, at constant speed. "Paint what moves" first, then start a stroke on
the paint to move exactly that region. "Click points" adds a path point per click.</div>
"""

_CSS = """
.vc-canvas-tools { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; margin-bottom: 6px; }
.vc-canvas-tools label { display: inline-flex; gap: 4px; align-items: center; cursor: pointer; }
.vc-canvas-tools button { padding: 2px 10px; border-radius: 6px; border: 1px solid var(--border-color-primary); }
.vc-canvas-box { position: relative; width: 100%; max-width: 512px; aspect-ratio: 1 / 1;
  background: repeating-conic-gradient(#3a3a3a 0% 25%, #2c2c2c 0% 50%) 50% / 32px 32px; }
.vc-canvas-bg, .vc-canvas { position: absolute; inset: 0; width: 100%; height: 100%; }
.vc-canvas-bg { object-fit: cover; image-rendering: pixelated; }
.vc-canvas { touch-action: none; cursor: crosshair; }
.vc-canvas-help { font-size: 0.85em; opacity: 0.8; margin-top: 6px; max-width: 512px; }
"""

# Strokes are kept as arrays of [x, y] canvas pixels. Every change re-publishes the whole drawing
# as the component's value (a JSON string), so what Python receives is always what is shown.
_JS = """
const canvas = element.querySelector('canvas.vc-canvas');
const pen = canvas.getContext('2d');
const COLOURS = __COLOURS__;
let strokes = [], regions = [], history = [], current = null, clickPath = null, published = '';

const mode = () => (element.querySelector('input[name="vc-mode"]:checked') || {value: 'stroke'}).value;
const radius = () => Number(element.querySelector('.vc-radius').value);
const colour = (i, a) => `rgba(${COLOURS[i % COLOURS.length].join(',')},${a})`;

function toCanvas(ev) {
  const box = canvas.getBoundingClientRect();
  return [(ev.clientX - box.left) * canvas.width / box.width, (ev.clientY - box.top) * canvas.height / box.height];
}

function publish() {
  const round = (p) => [Math.round(p[0] * 10) / 10, Math.round(p[1] * 10) / 10];
  published = JSON.stringify({
    width: canvas.width, height: canvas.height,
    strokes: strokes.map((s) => ({points: s.map(round)})),
    regions: regions.map((r) => ({points: r.points.map(round), radius: r.radius})),
  });
  props.value = published;
}

function path(points) {
  pen.beginPath();
  points.forEach((p, i) => (i ? pen.lineTo(p[0], p[1]) : pen.moveTo(p[0], p[1])));
}

function arrowHead(points, fill) {
  if (points.length < 2) return;
  const [x, y] = points[points.length - 1];
  let k = points.length - 2;
  while (k > 0 && Math.hypot(x - points[k][0], y - points[k][1]) < 12) k--;
  const angle = Math.atan2(y - points[k][1], x - points[k][0]);
  pen.beginPath();
  pen.moveTo(x, y);
  pen.lineTo(x - 18 * Math.cos(angle - 0.45), y - 18 * Math.sin(angle - 0.45));
  pen.lineTo(x - 18 * Math.cos(angle + 0.45), y - 18 * Math.sin(angle + 0.45));
  pen.closePath();
  pen.fillStyle = fill;
  pen.fill();
}

function redraw() {
  pen.clearRect(0, 0, canvas.width, canvas.height);
  pen.lineCap = 'round';
  pen.lineJoin = 'round';
  const shownRegions = current && current.kind === 'region' ? regions.concat([current]) : regions;
  for (const r of shownRegions) {
    pen.strokeStyle = 'rgba(255,255,255,0.45)';
    pen.lineWidth = 2 * r.radius;
    path(r.points.length > 1 ? r.points : [r.points[0], r.points[0]]);
    pen.stroke();
  }
  const shown = current && current.kind === 'stroke' ? strokes.concat([current.points]) : strokes;
  shown.forEach((s, i) => {
    pen.strokeStyle = 'rgba(0,0,0,0.6)';
    pen.lineWidth = 8;
    path(s);
    pen.stroke();
    pen.strokeStyle = colour(i, 1);
    pen.lineWidth = 4;
    path(s);
    pen.stroke();
    pen.fillStyle = colour(i, 1);
    pen.beginPath();
    pen.arc(s[0][0], s[0][1], 6, 0, 2 * Math.PI);
    pen.fill();
    arrowHead(s, colour(i, 1));
  });
}

function endClickPath() {
  clickPath = null;
}

canvas.addEventListener('pointerdown', (ev) => {
  ev.preventDefault();
  const p = toCanvas(ev);
  if (mode() === 'points') {
    if (!clickPath) {
      clickPath = [p];
      strokes.push(clickPath);
      history.push('stroke');
    } else {
      clickPath.push(p);
    }
    redraw();
    publish();
    return;
  }
  endClickPath();
  canvas.setPointerCapture(ev.pointerId);
  current = mode() === 'region' ? {kind: 'region', points: [p], radius: radius()} : {kind: 'stroke', points: [p]};
  redraw();
});

canvas.addEventListener('pointermove', (ev) => {
  if (!current) return;
  const p = toCanvas(ev), last = current.points[current.points.length - 1];
  if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 2) {
    current.points.push(p);
    redraw();
  }
});

function finish(ev) {
  if (!current) return;
  if (ev) current.points.push(toCanvas(ev));
  if (current.kind === 'region') {
    regions.push({points: current.points, radius: current.radius});
    history.push('region');
  } else if (current.points.length >= 2) {
    strokes.push(current.points);
    history.push('stroke');
  }
  current = null;
  redraw();
  publish();
}
canvas.addEventListener('pointerup', finish);
canvas.addEventListener('pointercancel', () => finish(null));

element.querySelector('.vc-end').addEventListener('click', endClickPath);
element.querySelector('.vc-undo').addEventListener('click', () => {
  const kind = history.pop();
  if (kind === 'stroke') {
    if (strokes.pop() === clickPath) endClickPath();
  } else if (kind === 'region') {
    regions.pop();
  }
  redraw();
  publish();
});
element.querySelector('.vc-clear').addEventListener('click', () => {
  strokes = []; regions = []; history = []; current = null;
  endClickPath();
  redraw();
  publish();
});
element.querySelectorAll('input[name="vc-mode"]').forEach((r) => r.addEventListener('change', endClickPath));

// A value set from Python (an example, or a reset) replaces the drawing.
function load() {
  if (props.value === published) return;
  let data = {};
  try { data = props.value ? JSON.parse(props.value) : {}; } catch (e) { data = {}; }
  const sx = canvas.width / (data.width || canvas.width), sy = canvas.height / (data.height || canvas.height);
  const scale = (pts) => (pts || []).map((p) => [p[0] * sx, p[1] * sy]);
  strokes = (data.strokes || []).map((s) => scale(s.points));
  regions = (data.regions || []).map((r) => ({points: scale(r.points), radius: (r.radius || 16) * sx}));
  history = strokes.map(() => 'stroke').concat(regions.map(() => 'region'));
  published = props.value || '';
  endClickPath();
  redraw();
}
watch('value', load);
load();
""".replace("__COLOURS__", json.dumps([list(c) for c in STROKE_COLOURS]))


def motion_canvas() -> gr.HTML:
    """The canvas component; its value (a JSON string) is the drawing."""
    return gr.HTML(
        value="",
        label="Motion canvas",
        html_template=_TEMPLATE,
        css_template=_CSS,
        js_on_load=_JS,
        background="",
        size=CANVAS_SIZE,
        elem_id="motion-canvas",
        padding=False,
    )


def background_update(picture: np.ndarray | None) -> gr.HTML:
    """Show ``picture`` (uint8 RGB, already the square the model sees) under the drawing, or none."""
    if picture is None:
        return gr.HTML(background="")
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return gr.HTML(background="data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
