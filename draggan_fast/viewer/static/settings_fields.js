// The controls that mirror a server setting (model, seed, truncation, latent space, the drag
// and run settings): a change sends its command (new_image or set_params); a refused one goes
// back to the value the server kept; every state event brings them to the server's values,
// except the control being edited.

const $ = (id) => document.getElementById(id);

// Each control -> that setting in a state event.
const CONTROL_STATE = {
  model: (s) => s.model,
  seed: (s) => s.seed,
  psi: (s) => s.truncation_psi,
  "latent-space": (s) => s.latent_space,
  lr: (s) => s.params.lr,
  "lambda-mask": (s) => s.params.lambda_mask,
  r1: (s) => s.params.r1,
  r2: (s) => s.params.r2,
  "render-every": (s) => s.params.render_every,
  "max-steps": (s) => s.params.max_steps,
};

// set_params field -> its control.
const PARAM_INPUTS = { lr: "lr", lambda_mask: "lambda-mask", r1: "r1", r2: "r2", render_every: "render-every", max_steps: "max-steps" };

export class SettingsFields {
  // send(type, fields) -> the command's id (null: not sent); say(text, isError): the message
  // line; state(): the latest state event; edited(): whether the image has edits (points, a
  // drag, a mask) that a new image replaces.
  constructor({ send, say, state, edited }) {
    Object.assign(this, { send, say, state, edited });
    this.fieldOfCommand = new Map(); // command id -> the control whose value it sent
    this.replacingEdits = new Set(); // ids of new_image commands that replace edits
    const newImage = (field, id) => () => this.sendField("new_image", { [field]: $(id).value }, id);
    $("model").addEventListener("change", newImage("model", "model"));
    $("latent-space").addEventListener("change", newImage("latent_space", "latent-space"));
    $("seed").addEventListener("change", () => this.sendNumber("new_image", "seed", "seed"));
    $("psi").addEventListener("change", () => this.sendNumber("new_image", "truncation_psi", "psi"));
    $("random-seed").addEventListener("click", () => {
      $("seed").value = Math.floor(Math.random() * 2 ** 32);
      this.sendNumber("new_image", "seed", "seed");
    });
    for (const [name, id] of Object.entries(PARAM_INPUTS)) {
      $(id).addEventListener("change", () => this.sendNumber("set_params", name, id));
    }
  }

  setModels(names) {
    $("model").replaceChildren(...names.map((name) => new Option(name, name)));
  }

  // Controls follow the server's state, except the one being edited.
  sync(state) {
    for (const [id, valueOf] of Object.entries(CONTROL_STATE)) {
      const control = $(id);
      const value = valueOf(state);
      if (document.activeElement !== control && value !== undefined) control.value = String(value);
    }
  }

  // The server accepted command `id`: true when it was a new image that replaced edits.
  accepted(id) {
    this.fieldOfCommand.delete(id);
    return this.replacingEdits.delete(id);
  }

  // The server refused command `id`: its control (if it sent one) shows the server's value.
  refused(id) {
    if (this.fieldOfCommand.has(id)) this.revert(this.fieldOfCommand.get(id));
    this.fieldOfCommand.delete(id);
    this.replacingEdits.delete(id);
  }

  sendNumber(command, field, id) {
    const value = Number($(id).value);
    if ($(id).value === "" || !Number.isFinite(value)) {
      this.say(`${field} must be a number`, true);
      this.revert(id);
      return;
    }
    this.sendField(command, { [field]: value }, id);
  }

  // A command that sends a control's value: if the server refuses it, the control goes back to
  // the value the server kept.
  sendField(command, fields, id) {
    const commandId = this.send(command, fields);
    if (commandId === null) return;
    this.fieldOfCommand.set(commandId, id);
    if (command === "new_image" && this.edited()) this.replacingEdits.add(commandId);
  }

  revert(id) {
    const state = this.state();
    if (state.params && CONTROL_STATE[id] && state.model !== undefined) {
      $(id).value = String(CONTROL_STATE[id](state));
    }
  }
}
