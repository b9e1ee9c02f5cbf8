// The movable-region mask (true = may change, the paper's M), painted at the image's own
// resolution with a round brush, shown as a tinted overlay and sent as uint8 [H, W] bytes.

export class MaskPainter {
  constructor() {
    this.canvas = document.createElement("canvas");
    this.context = this.canvas.getContext("2d", { willReadFrequently: true });
    this.empty = true;
  }

  resize(width, height) {
    if (this.canvas.width === width && this.canvas.height === height) return;
    this.canvas.width = width;
    this.canvas.height = height;
    this.empty = true;
  }

  clear() {
    this.context.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.empty = true;
  }

  // A stroke segment from (x0, y0) to (x1, y1), image pixels; erase removes instead.
  stroke(x0, y0, x1, y1, radius, erase) {
    const context = this.context;
    context.globalCompositeOperation = erase ? "destination-out" : "source-over";
    context.strokeStyle = context.fillStyle = "rgba(48, 209, 88, 1)";
    context.lineWidth = 2 * radius;
    context.lineCap = "round";
    context.beginPath();
    context.moveTo(x0, y0);
    context.lineTo(x1, y1);
    context.stroke();
    context.beginPath();
    context.arc(x1, y1, radius, 0, 2 * Math.PI);
    context.fill();
    context.globalCompositeOperation = "source-over";
  }

  // uint8 [H * W], row-major, 1 where painted; sets `empty`.
  bytes() {
    const { width, height } = this.canvas;
    const rgba = this.context.getImageData(0, 0, width, height).data;
    const mask = new Uint8Array(width * height);
    let painted = 0;
    for (let i = 0; i < mask.length; i++) {
      mask[i] = rgba[4 * i + 3] >= 128 ? 1 : 0;
      painted += mask[i];
    }
    this.empty = painted === 0;
    return mask;
  }

  // The inverse of bytes(): show a mask the server holds (e.g. from a loaded session).
  setBytes(width, height, mask) {
    this.resize(width, height);
    const pixels = this.context.createImageData(width, height);
    for (let i = 0; i < mask.length; i++) {
      if (!mask[i]) continue;
      pixels.data.set([48, 209, 88, 255], 4 * i);
    }
    this.context.putImageData(pixels, 0, 0);
    this.empty = !mask.some((value) => value);
  }

  draw(context) {
    context.globalAlpha = 0.35;
    context.drawImage(this.canvas, 0, 0);
    context.globalAlpha = 1;
  }
}
