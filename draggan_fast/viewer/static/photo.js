// "Open photo...": upload an image file as an open_photo command (docs/protocol.md), show the
// inversion's photo_progress events, and let Stop cancel it. Preview frames are ordinary frames.

const STAGES = { projection: "fitting the latent", tuning: "tuning the generator" };

export class PhotoOpener {
  // button, input, steps: the "Open photo..." button, its hidden file input and the optional
  // step count (projection and tuning, each; empty: the server's default); send(type, fields,
  // payload) sends a command and returns its id; say(text, isError) shows a message;
  // maxBytes() the server's message limit (0 when unknown).
  constructor({ button, input, steps, send, say, maxBytes }) {
    this.steps = steps;
    this.send = send;
    this.say = say;
    this.maxBytes = maxBytes;
    this.pendingId = null; // the open_photo under way
    this.name = "";
    button.addEventListener("click", () => input.click());
    input.addEventListener("change", async () => {
      const file = input.files[0];
      input.value = "";
      if (file) await this.open(file);
    });
  }

  get busy() {
    return this.pendingId !== null;
  }

  async open(file) {
    const limit = this.maxBytes();
    if (limit && file.size > limit - 1024) {
      this.say(`${file.name} is larger than this server accepts`, true);
      return;
    }
    this.name = file.name.slice(0, 200);
    const fields = { name: this.name };
    const steps = this.steps.value === "" ? NaN : Number(this.steps.value);
    if (Number.isInteger(steps) && steps >= 0 && steps <= 2000) {
      fields.steps = fields.tuning_steps = steps;
    }
    this.say(`${this.name}: uploading...`, false);
    this.pendingId = this.send("open_photo", fields, await file.arrayBuffer());
  }

  // Called with every event after the page's own handling; the photo's messages win.
  onEvent(event) {
    if (event.type === "photo_progress" && this.busy) {
      const stage = STAGES[event.stage] ?? event.stage;
      this.say(`${this.name}: ${stage}, step ${event.step}/${event.total} (Stop cancels)`, false);
    } else if ((event.type === "ok" || event.type === "error") && event.id === this.pendingId) {
      this.pendingId = null;
      if (event.type === "ok") {
        const psnr = event.psnr_tuned ?? event.psnr_projection;
        const quality = psnr == null ? "" : `, reconstructed at ${psnr.toFixed(1)} dB`;
        this.say(`${this.name} opened${quality}: drag it; Undo brings back the previous image`, false);
      }
    }
  }
}
