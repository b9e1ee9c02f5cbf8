// What the panel says about the session: its points with their distances, and the status
// line (idle or running, the step, the speed, the distances, what a click does next).

const round1 = (value) => Number(value.toFixed(1));

// The list of points (a PointEditor's): "(hx, hy) → (tx, ty), distance px", the selected one
// marked.
export function showPointList(list, points) {
  list.replaceChildren(
    ...points.points.map((point, index) => {
      const item = document.createElement("li");
      const [hx, hy] = point.handle.map(round1);
      const [tx, ty] = point.target.map(round1);
      const distance = Math.hypot(tx - hx, ty - hy).toFixed(1);
      item.textContent = `(${hx}, ${hy}) → (${tx}, ${ty}), ${distance} px`;
      item.classList.toggle("selected", points.selected?.index === index);
      return item;
    }),
  );
}

// The status line of a connected page: state is the latest state event, progress the latest
// step's metadata (null before the first).
export function statusLine(state, progress, points) {
  // While a drag runs, the latest step's numbers; otherwise the session's own (after an undo,
  // a reset or a point edit the last drag's distances are stale).
  const step = state.running ? (progress?.step ?? state.step) : state.step;
  const distances = state.running
    ? (progress?.distances ?? [])
    : points.points.map((p) => Math.hypot(p.target[0] - p.handle[0], p.target[1] - p.handle[1]));
  const parts = [state.running ? "running" : "idle", `step ${step}`];
  if (progress?.ms_per_step != null) {
    parts.push(`${progress.ms_per_step.toFixed(1)} ms/step`, `${progress.steps_per_s.toFixed(1)} steps/s`);
  }
  if (distances.length) parts.push(`distances ${distances.map((d) => d.toFixed(1)).join(", ")} px`);
  if (points.pendingHandle) parts.push("click the target for the new handle");
  return parts.join(" · ");
}
