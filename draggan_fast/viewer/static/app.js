// The viewer page: wires the canvas, the controls and the keyboard to the session server.
import { Connection } from "./connection.js";
import { download, wireFileButtons } from "./downloads.js";
import { shortcutFor } from "./keyboard.js";
import { MaskPainter } from "./mask.js";
import { PhotoOpener } from "./photo.js";
import { PointEditor } from "./points.js";
import { SettingsFields } from "./settings_fields.js";
import { showSettingsSources } from "./settings_source.js";
import { showPointList, statusLine } from "./status.js";

const $ = (id) => document.getElementById(id);
const view = $("view");
const viewContext = view.getContext("2d");
const frameCanvas = document.createElement("canvas"); // the latest frame, image resolution
const frameContext = frameCanvas.getContext("2d");
const points = new PointEditor();
const mask = new MaskPainter();

let limits = {};
let state = { running: false, step: 0, image: { width: 0, height: 0 }, params: {}, seed: 0 };
let pendingFrame = null; // latest frame not yet drawn: frames are latest-wins here too
let drawScheduled = false;
let pointer = null; // the mouse interaction under way
let progress = null; // the latest step metadata
let errorShown = false; // the message line shows an error (cleared by the next success)
let fatalError = null; // the error that ended the session, kept when the connection closes
let placedAPoint = false; // the canvas hint shows until the first point
const UNDONE = { image: "back to the previous image", null: "nothing to undo" };

const STOP_REASONS = { done: "done: every handle reached its target", max_steps: "stopped at max steps", stopped: "stopped", error: "failed" };

const connection = new Connection({ event: onEvent, frame: onFrame, mask: onMask, file: onFile, closed: onClosed });
const fields = new SettingsFields({
  send: (type, values) => connection.send(type, values),
  say: showMessage,
  state: () => state,
  edited: () => points.points.length > 0 || state.step > 0 || state.has_mask,
});

// ------------------------------------------------------------------ server messages

function onEvent(event) {
  onEventOfPage(event);
  photo.onEvent(event);
}

function onEventOfPage(event) {
  switch (event.type) {
    case "hello":
      limits = event.limits;
      fields.setModels(event.models);
      break;
    case "state":
      applyState(event);
      break;
    case "progress":
      progress = event;
      if (!pointer) points.updateFromFrame(event);
      refreshText();
      scheduleDraw();
      break;
    case "stopped":
      showMessage(`${STOP_REASONS[event.reason] ?? event.reason} after ${event.steps} steps`, false);
      break;
    case "ok":
      if (errorShown) showMessage("", false); // a later command went through: the error is old
      if (fields.accepted(event.id)) {
        showMessage("new image; Undo (Ctrl+Z) brings back the previous one with its edits", false);
      }
      if (event.command === "undo") showMessage(UNDONE[event.undone] ?? "", false);
      break;
    case "error":
      if (event.fatal) fatalError = event.message;
      showMessage(event.message, true);
      fields.refused(event.id);
      break;
  }
}

function applyState(event) {
  state = event;
  const { width, height } = event.image;
  mask.resize(width, height);
  if (!event.has_mask) mask.clear();
  if (!pointer) points.update(event.points);
  if (event.points.length) placedAPoint = true;
  // A short label; what runs and why (a paragraph for the fast backend) in its tooltip.
  $("backend").textContent = `backend: ${event.backend.split(":")[0]}`;
  $("backend").title = event.backend;
  fields.sync(event);
  showSettingsSources(event.settings_source, event.params);
  refreshText();
  scheduleDraw();
}

function onFrame(header, rgb) {
  pendingFrame = { header, rgb };
  progress = header.ms_per_step === undefined ? progress : header;
  scheduleDraw();
}

function onMask(header, bytes) {
  mask.setBytes(header.width, header.height, bytes);
  scheduleDraw();
}

function onFile(header, bytes) {
  download(new Blob([bytes], { type: header.mime }), header.name);
}

// The session is gone: nothing sent now would arrive, so the controls are disabled and the
// page says so, after the error that ended it (if one did).
function onClosed(code, reason) {
  state.running = false;
  document.body.classList.add("disconnected");
  for (const control of document.querySelectorAll("#panel button, #panel input, #panel select")) {
    control.disabled = true;
  }
  $("reload").hidden = false;
  points.pendingHandle = null;
  refreshText();
  const closed = `disconnected (${code}${reason ? ": " + reason : ""}); reload the page to start a new session`;
  showMessage(fatalError ? `${fatalError}. ${closed}` : closed, true);
}

// ------------------------------------------------------------------ drawing

function scheduleDraw() {
  if (drawScheduled) return;
  drawScheduled = true;
  requestAnimationFrame(draw);
}

function draw() {
  drawScheduled = false;
  if (pendingFrame) {
    const { header, rgb } = pendingFrame;
    pendingFrame = null;
    paintFrame(header, rgb);
    if (!pointer) points.updateFromFrame(header);
    refreshText();
  }
  const size = Math.round(view.clientWidth * devicePixelRatio);
  if (view.width !== size) view.width = view.height = size;
  viewContext.setTransform(1, 0, 0, 1, 0, 0);
  viewContext.fillStyle = "#111";
  viewContext.fillRect(0, 0, view.width, view.height);
  if (!frameCanvas.width) return;
  viewContext.imageSmoothingEnabled = frameCanvas.width >= view.width;
  viewContext.drawImage(frameCanvas, 0, 0, view.width, view.height);
  const scale = view.width / frameCanvas.width;
  viewContext.setTransform(scale, 0, 0, scale, 0, 0);
  if ($("mask-show").checked) mask.draw(viewContext);
  points.draw(viewContext, scale);
}

function paintFrame(header, rgb) {
  const { width, height } = header;
  if (frameCanvas.width !== width || frameCanvas.height !== height) {
    frameCanvas.width = width;
    frameCanvas.height = height;
  }
  const pixels = frameContext.createImageData(width, height);
  const rgba = pixels.data;
  for (let source = 0, target = 0; source < rgb.length; source += 3, target += 4) {
    rgba[target] = rgb[source];
    rgba[target + 1] = rgb[source + 1];
    rgba[target + 2] = rgb[source + 2];
    rgba[target + 3] = 255;
  }
  frameContext.putImageData(pixels, 0, 0);
}

function refreshText() {
  const start = $("start");
  start.textContent = state.running ? "Stop" : "Start";
  start.classList.toggle("running", state.running);
  showPointList($("point-list"), points);
  if (!connection.open) {
    $("status").textContent = connection.connecting ? "connecting..." : "disconnected";
    refreshHint();
    return;
  }
  $("status").textContent = statusLine(state, progress, points);
  const { width, height } = state.image;
  if (width) $("save-png").textContent = `Save PNG ${width}×${height}`;
  if (view.width) $("save-png-view").textContent = `Save PNG ${view.width}×${view.height}`;
  refreshHint();
}

// The first-time hint on the canvas: what a click does, until the first point is placed.
function refreshHint() {
  const hint = $("hint");
  hint.hidden = placedAPoint || !connection.open || !state.image.width || tool() === "mask";
  hint.textContent = points.pendingHandle
    ? "Now click where that point should go (its target)"
    : "Click a point to drag (a handle), then where it should go (its target)";
}

function showMessage(text, isError) {
  const message = $("message");
  message.textContent = text;
  message.style.color = isError ? "" : "var(--muted)";
  errorShown = isError && text !== "";
}

// ------------------------------------------------------------------ mouse

function imagePoint(event) {
  const { width, height } = state.image;
  const rect = view.getBoundingClientRect();
  const x = ((event.clientX - rect.left) / rect.width) * width;
  const y = ((event.clientY - rect.top) / rect.height) * height;
  return [clamp(Math.round(x), 0, width - 1), clamp(Math.round(y), 0, height - 1)];
}

const clamp = (value, low, high) => Math.min(Math.max(value, low), high);
const tool = () => ($("tool-mask").checked ? "mask" : "points");
const brushRadius = () => Number($("brush-size").value) / 2;
const hitRadius = () => (10 * state.image.width) / view.clientWidth; // 10 CSS px

view.addEventListener("mousedown", (event) => {
  if (event.button !== 0 || !state.image.width || !connection.open) return;
  view.focus();
  const xy = imagePoint(event);
  if (tool() === "mask") {
    pointer = { kind: "paint", last: xy };
    mask.stroke(...xy, ...xy, brushRadius(), $("mask-erase").checked);
  } else {
    const hit = points.hit(...xy, hitRadius());
    if (hit) {
      points.selected = hit;
      pointer = { kind: "move-point", selection: hit, moved: false };
    } else if (points.pendingHandle) {
      connection.send("add_point", { handle: points.pendingHandle, target: xy });
      points.pendingHandle = null;
    } else {
      points.pendingHandle = xy;
      points.selected = null;
    }
  }
  refreshText();
  scheduleDraw();
});

window.addEventListener("mousemove", (event) => {
  if (!pointer) return;
  const xy = imagePoint(event);
  if (pointer.kind === "paint") {
    mask.stroke(...pointer.last, ...xy, brushRadius(), $("mask-erase").checked);
    pointer.last = xy;
  } else {
    points.moveLocally(pointer.selection, xy);
    pointer.moved = true;
  }
  scheduleDraw();
});

window.addEventListener("mouseup", () => {
  if (!pointer) return;
  if (pointer.kind === "paint") sendMask();
  else if (pointer.moved) sendPointMove(pointer.selection);
  pointer = null;
});

view.addEventListener("contextmenu", (event) => {
  event.preventDefault();
  const hit = points.hit(...imagePoint(event), hitRadius());
  if (hit) removePoint(hit.index);
});

function sendMask() {
  const bytes = mask.bytes();
  if (mask.empty) connection.send("clear_mask");
  else connection.send("set_mask", { width: state.image.width, height: state.image.height }, bytes);
}

function sendPointMove(selection) {
  connection.send("set_point", { index: selection.index, [selection.part]: points.position(selection) });
}

function removePoint(index) {
  connection.send("remove_point", { index });
  points.selected = null;
}

// ------------------------------------------------------------------ controls

function toggleStart() {
  if (state.running || photo.busy) connection.send("stop");
  else connection.send("start", { max_steps: Number($("max-steps").value) });
}

function resetPoints() {
  points.pendingHandle = null;
  points.selected = null;
  connection.send("clear_points");
}

$("start").addEventListener("click", toggleStart);
$("undo").addEventListener("click", () => connection.send("undo"));
$("reset-points").addEventListener("click", resetPoints);
$("reset-image").addEventListener("click", () => connection.send("reset_image"));
$("remove-point").addEventListener("click", () => points.selected && removePoint(points.selected.index));
$("clear-mask").addEventListener("click", () => {
  mask.clear();
  connection.send("clear_mask");
  scheduleDraw();
});
$("mask-show").addEventListener("change", scheduleDraw);
$("brush-size").addEventListener("input", () => ($("brush-size-value").textContent = $("brush-size").value));
for (const radio of document.querySelectorAll("input[name=tool]")) {
  radio.addEventListener("change", () => {
    view.classList.toggle("mask-tool", tool() === "mask");
    refreshHint();
  });
}

$("reload").addEventListener("click", () => location.reload());
const photo = new PhotoOpener({
  button: $("open-photo"), input: $("photo-file"), steps: $("photo-steps"), say: showMessage,
  send: (type, fields, payload) => connection.send(type, fields, payload),
  maxBytes: () => limits.max_message_bytes ?? 0,
});
wireFileButtons({
  send: (type, values, payload) => connection.send(type, values, payload), say: showMessage,
  frame: frameCanvas, view, state: () => state, maxBytes: () => limits.max_message_bytes ?? 0,
});

// ------------------------------------------------------------------ keyboard

const KEY_ACTIONS = {
  undo: () => connection.send("undo"),
  toggleStart,
  cancel: () => {
    points.pendingHandle = null;
    points.selected = null;
  },
  removeSelected: () => points.selected && removePoint(points.selected.index),
  nudge: nudgeSelected,
  pointsTool: () => ($("tool-points").checked = true),
  maskTool: () => ($("tool-mask").checked = true),
  toggleErase: () => ($("mask-erase").checked = !$("mask-erase").checked),
  resetPoints,
  selectNext: selectNextPoint,
  switchPart: () => {
    if (!points.selected) return;
    const part = points.selected.part === "handle" ? "target" : "handle";
    points.selected = { ...points.selected, part };
  },
  smallerBrush: () => resizeBrush(-2),
  largerBrush: () => resizeBrush(2),
};

document.addEventListener("keydown", (event) => {
  const shortcut = shortcutFor(event);
  if (!shortcut || !connection.open) return;
  event.preventDefault();
  KEY_ACTIONS[shortcut.action](shortcut.delta);
  view.classList.toggle("mask-tool", tool() === "mask");
  refreshText();
  scheduleDraw();
});

function resizeBrush(change) {
  const brush = $("brush-size");
  brush.value = clamp(Number(brush.value) + change, 1, 128);
  $("brush-size-value").textContent = brush.value;
}

function selectNextPoint() {
  if (!points.points.length) return;
  const next = points.selected ? (points.selected.index + 1) % points.points.length : 0;
  points.selected = { index: next, part: "handle" };
}

function nudgeSelected([dx, dy]) {
  if (!points.selected) return;
  const [x, y] = points.position(points.selected);
  const { width, height } = state.image;
  points.moveLocally(points.selected, [clamp(x + dx, 0, width - 1), clamp(y + dy, 0, height - 1)]);
  sendPointMove(points.selected);
}

window.addEventListener("resize", scheduleDraw);
