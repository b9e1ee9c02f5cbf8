// Handle/target pairs on the image: what the server last said, the handle placed but not yet
// paired, the selected point, hit testing and drawing (numbered pairs with arrows).
// Coordinates are image pixels (x, y).

const HANDLE_COLOR = "#ff3b30";
const TARGET_COLOR = "#0a84ff";

export class PointEditor {
  constructor() {
    this.points = []; // [{ handle: [x, y], target: [x, y] }]
    this.pendingHandle = null; // [x, y]: clicked, waiting for its target
    this.selected = null; // { index, part: "handle" | "target" }
  }

  // From a state event ({points}) or a frame header ({handles, targets}).
  update(points) {
    this.points = points;
    if (this.selected && this.selected.index >= points.length) this.selected = null;
  }

  updateFromFrame(header) {
    if (!header.handles || !header.targets) return;
    this.update(header.handles.map((handle, i) => ({ handle, target: header.targets[i] })));
  }

  // The point part nearest to (x, y) within `radius` image pixels, or null.
  hit(x, y, radius) {
    let best = null;
    let bestDistance = radius;
    this.points.forEach((point, index) => {
      for (const part of ["target", "handle"]) {
        const [px, py] = point[part];
        const distance = Math.hypot(px - x, py - y);
        if (distance <= bestDistance) {
          best = { index, part };
          bestDistance = distance;
        }
      }
    });
    return best;
  }

  position(selection) {
    return this.points[selection.index][selection.part];
  }

  moveLocally(selection, xy) {
    this.points[selection.index] = { ...this.points[selection.index], [selection.part]: xy };
  }

  // Draws onto a context whose transform maps image pixels to the canvas; `scale` is canvas
  // pixels per image pixel (markers keep a constant on-screen size).
  draw(context, scale) {
    const radius = 6 / scale;
    context.lineWidth = 2 / scale;
    context.font = `${12 / scale}px sans-serif`;
    this.points.forEach((point, index) => {
      const selected = this.selected && this.selected.index === index;
      drawArrow(context, point.handle, point.target, scale);
      drawMarker(context, point.handle, radius, HANDLE_COLOR, selected && this.selected.part === "handle");
      drawMarker(context, point.target, radius, TARGET_COLOR, selected && this.selected.part === "target");
      const label = [String(index + 1), point.handle[0] + radius, point.handle[1] - radius];
      context.strokeStyle = "#000";
      context.strokeText(...label);
      context.fillStyle = "#fff";
      context.fillText(...label);
    });
    if (this.pendingHandle) drawMarker(context, this.pendingHandle, radius, HANDLE_COLOR, true);
  }
}

function drawMarker(context, [x, y], radius, color, selected) {
  context.beginPath();
  context.arc(x, y, radius, 0, 2 * Math.PI);
  context.fillStyle = color;
  context.fill();
  context.strokeStyle = selected ? "#ffd60a" : "#fff";
  context.stroke();
}

function drawArrow(context, [x0, y0], [x1, y1], scale) {
  const length = Math.hypot(x1 - x0, y1 - y0);
  if (length < 1e-6) return;
  const head = Math.min(10 / scale, length / 2);
  const angle = Math.atan2(y1 - y0, x1 - x0);
  context.strokeStyle = "#fff";
  context.beginPath();
  context.moveTo(x0, y0);
  context.lineTo(x1, y1);
  for (const side of [-1, 1]) {
    context.moveTo(x1, y1);
    context.lineTo(x1 - head * Math.cos(angle + side * 0.5), y1 - head * Math.sin(angle + side * 0.5));
  }
  context.stroke();
}
