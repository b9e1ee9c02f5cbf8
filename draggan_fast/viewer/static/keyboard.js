// Keyboard shortcuts: a keydown event -> the viewer action it asks for, or null. Keys typed
// into form fields stay theirs (except Escape), and Space/Enter on a button press the button.

const NAMED_KEYS = {
  " ": "toggleStart",
  Escape: "cancel",
  Delete: "removeSelected",
  Backspace: "removeSelected",
  p: "pointsTool",
  m: "maskTool",
  e: "toggleErase",
  r: "resetPoints",
  n: "selectNext",
  t: "switchPart",
  "[": "smallerBrush",
  "]": "largerBrush",
};
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

// -> { action, delta? } (delta: [dx, dy] pixels for "nudge") or null.
export function shortcutFor(event) {
  const target = event.target;
  const field = ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName);
  const typing = field && target.type !== "checkbox" && target.type !== "radio";
  if (typing && event.key !== "Escape") return null;
  if (target.tagName === "BUTTON" && (event.key === " " || event.key === "Enter")) return null;
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") return { action: "undo" };
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  if (event.key in ARROWS) {
    const amount = event.shiftKey ? 10 : 1;
    return { action: "nudge", delta: ARROWS[event.key].map((unit) => unit * amount) };
  }
  const action = NAMED_KEYS[event.key.length === 1 ? event.key.toLowerCase() : event.key];
  return action ? { action } : null;
}
