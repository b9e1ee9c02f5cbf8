"""The images a viewer session replaced (new seed, psi, latent space, model or a loaded session),
so that Undo can bring one back: its settings and its session (w, points, mask, optimizer) as
the bytes of a session file, within a memory budget (the oldest are forgotten first)."""

from draggan_fast.viewer import session_files

MAX_IMAGES = 16
MAX_HISTORY_BYTES = 48 * 1024 * 1024  # a 512-px session file is ~16 MB (its feature map)


class ImageHistory:
    def __init__(self, max_images: int = MAX_IMAGES, max_bytes: int = MAX_HISTORY_BYTES):
        self.max_images = max_images
        self.max_bytes = max_bytes
        self._entries = []  # (image settings dict, session file bytes), oldest first

    def __len__(self):
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return sum(len(data) for _, data in self._entries)

    def snapshot(self, image: dict, session) -> tuple[dict, bytes]:
        """What `push` keeps of the image about to be replaced (taken before replacing it)."""
        return dict(image), session_files.dump(session)[1]

    def push(self, entry: tuple[dict, bytes]):
        """Keep a snapshot once the new image is in place; forget the oldest beyond the budget."""
        self._entries.append(entry)
        while len(self._entries) > self.max_images or (
            len(self._entries) > 1 and self.nbytes > self.max_bytes
        ):
            self._entries.pop(0)
        if self.nbytes > self.max_bytes:  # a single session file over the whole budget
            self._entries.clear()

    def pop(self, generator_of) -> tuple[dict, object] | None:
        """The last replaced image: (its settings, its DragSession on generator_of(model name)),
        or None when there is none."""
        if not self._entries:
            return None
        image, data = self._entries.pop()
        return image, session_files.load(data, generator_of(image["model"]))

    def clear(self):
        self._entries.clear()
