"""What one connection's drag sessions are made with, and the DragSessions made from it.

The image the user chose (model, seed, truncation_psi, latent space), the drag settings they
set (lr, lambda_mask, r1, r2; None: the model's recommended value, else the official one, as
the session resolves it: the state event shows the values in use and, in "settings_source",
where each came from), the viewer's own settings (render_every, max_steps), and the DragSession
keywords the server gives every session (backend, ...). The SessionWorker keeps one and makes
every new session here: from a seed, from an inverted photo, or restored by an undo.
"""

DEFAULT_PARAMS = {"lr": None, "lambda_mask": None, "r1": None, "r2": None}
SESSION_PARAMS = tuple(DEFAULT_PARAMS)  # those the session itself takes
DEFAULT_IMAGE = {"seed": 0, "truncation_psi": 0.7, "latent_space": "w+"}


class SessionSettings:
    def __init__(self, registry, session_options: dict):
        """registry: ModelRegistry; session_options: DragSession keywords every session gets
        (backend, ...), and the server's starting values of the image and drag settings."""
        self._registry = registry
        options = dict(session_options)
        self.image = {"model": registry.default_name, **DEFAULT_IMAGE}
        self.params = {
            **DEFAULT_PARAMS,
            **{k: options.pop(k) for k in SESSION_PARAMS if k in options},
            "render_every": 1,
            "max_steps": 1000,
        }
        for name in DEFAULT_IMAGE:
            if name in options:
                self.image[name] = options.pop(name)
        self._options = options

    def generator(self):
        """The current model's generator."""
        return self._registry.get(self.image["model"])

    def image_size(self) -> tuple[int, int]:
        generator = self.generator()
        return generator.img_resolution, generator.img_resolution

    def session_params(self) -> dict:
        """The drag settings the user set (the session takes the rest from the model)."""
        return {k: self.params[k] for k in SESSION_PARAMS if self.params[k] is not None}

    def new_session(self, **changes):
        """A session of the image with `changes` (model, seed, ...), which become the current
        image once it is made."""
        from draggan_fast import DragSession

        image = {**self.image, **changes}
        session = DragSession(
            self._registry.get(image["model"]),
            seed=image["seed"],
            truncation_psi=image["truncation_psi"],
            latent_space=image["latent_space"],
            **self.session_params(),
            **self._options,
        )
        self.image = image
        return session

    def photo_session(self, generator, w):
        """A session starting from a photo's latent w on its tuned generator."""
        from draggan_fast import DragSession

        return DragSession(
            generator, w=w, latent_space=self.image["latent_space"],
            **{k: self.params[k] for k in SESSION_PARAMS}, **self._options,
        )  # fmt: skip

    def set_params(self, session, changes: dict):
        """Apply `changes` (of `params`) to the settings and, those it takes, to the session."""
        session_changes = {k: v for k, v in changes.items() if k in SESSION_PARAMS}
        if session_changes:
            session.configure(**session_changes)
        self.params.update(changes)

    def restore(self, image: dict, session):
        """Back to an earlier image and its session (an undo), under the current settings."""
        self.image = image
        session.configure(**self.session_params())
        # A restored session says "given" for every setting: those the user left unset are
        # the model's recommended (or the official) ones, as they were when it was made.
        from draggan_fast.session.inputs import recommended_settings

        recommended = recommended_settings(self.generator())
        unset = [k for k in SESSION_PARAMS if self.params[k] is None]
        session.settings_source.update({k: recommended[k][1] for k in unset})
