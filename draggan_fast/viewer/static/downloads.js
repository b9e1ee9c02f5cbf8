// The page's files: the frame saved as PNG (at the image's resolution, or as shown), the
// drag's GIF / MP4 and the session file (built by the server, they come back as file messages)
// and a session file uploaded to continue.

const $ = (id) => document.getElementById(id);

export function download(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// send(type, fields, payload): a command; say(text, isError): the message line; frame: the
// canvas of the latest frame (image resolution); view: the page's canvas; state(): the latest
// state event; maxBytes(): the largest message the server accepts (0: unknown).
export function wireFileButtons({ send, say, frame, view, state, maxBytes }) {
  $("save-png").addEventListener("click", () => {
    if (!frame.width) return;
    const { seed, step } = state();
    frame.toBlob((blob) => download(blob, `draggan-seed${seed}-step${step}.png`), "image/png");
  });
  $("save-png-view").addEventListener("click", () => {
    if (!frame.width) return;
    const shown = document.createElement("canvas"); // the image as shown, without the markers
    shown.width = view.width;
    shown.height = view.height;
    const context = shown.getContext("2d");
    context.imageSmoothingEnabled = frame.width >= view.width;
    context.drawImage(frame, 0, 0, shown.width, shown.height);
    const name = `draggan-seed${state().seed}-step${state().step}-${shown.width}px.png`;
    shown.toBlob((blob) => download(blob, name), "image/png");
  });
  $("export-gif").addEventListener("click", () => send("export_gif"));
  $("export-mp4").addEventListener("click", () => send("export_mp4"));
  $("save-session").addEventListener("click", () => send("save_session"));
  $("load-session").addEventListener("click", () => $("session-file").click());
  $("session-file").addEventListener("change", async () => {
    const file = $("session-file").files[0];
    $("session-file").value = "";
    if (!file) return;
    if (maxBytes() && file.size > maxBytes() - 1024) {
      say(`${file.name} is larger than this server accepts`, true);
      return;
    }
    send("load_session", { name: file.name.slice(0, 200) }, await file.arrayBuffer());
  });
}
