// Where each drag setting in use came from, as a small badge beside its field, from the state
// event's `settings_source` (docs/protocol.md): "set" (given: on this page, or by the server's
// options), "model" (the model's recommendation, from its file) or "official" (the official
// DragGAN default, for a model that recommends none). The badge has a fixed width: no reflow.

const BADGES = {
  given: ["set", "set on this page (or by the server's options)"],
  model: ["model", "the model's recommended value (from its file)"],
  official: ["official", "the official DragGAN default (tuned for 512 px models)"],
};

// setting -> the id of its field; its badge is `${id}-source`
const SETTING_FIELDS = { lr: "lr", lambda_mask: "lambda-mask", r1: "r1", r2: "r2" };

export function showSettingsSources(sources = {}, params = {}) {
  for (const [name, id] of Object.entries(SETTING_FIELDS)) {
    const badge = document.getElementById(`${id}-source`);
    const source = sources[name];
    const [label, why] = BADGES[source] ?? ["", ""];
    badge.textContent = label;
    badge.dataset.source = source ?? "";
    badge.title = label ? `${name} ${params[name]}: ${why}` : "";
  }
}
