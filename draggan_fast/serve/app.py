"""The Ray Serve application: a deployment of N replicas, each owning a device and the drag
sessions routed to it, behind Ray Serve's HTTP proxy (HTTP JSON, docs/serving.md).

Sticky routing: every request carries its session id in the `serve_multiplexed_model_id`
header, and the session is a multiplexed "model" of its replica (`serve.multiplexed`): Ray
Serve sends the requests of a session to the replica that holds it, and a new session to the
replica with the fewest. Loading a session on a replica restores it from the shared checkpoint
directory when it has one, unless another live replica holds its lease (then 503: the client
retries and the router finds the holder). A replica renews its sessions' leases every
lease_s / 3; once it dies they lapse and the next request restores each session elsewhere.

    serve run draggan_fast.serve.app:app_builder checkpoint_dir=/shared/sessions replicas=2
"""

import asyncio
import threading

from draggan_fast.serve.checkpoints import CheckpointStore, check_session_id
from draggan_fast.serve.config import ServeConfig
from draggan_fast.serve.hosted_session import HostedSession, SessionBusy

SESSION_HEADER = "serve_multiplexed_model_id"  # Ray Serve's multiplexed routing header


class SessionElsewhere(Exception):
    """Another live replica holds the session (HTTP 503: retry)."""


class ReplicaFull(Exception):
    """This replica holds max_sessions sessions (HTTP 503: try again later)."""


class SessionReplica:
    """The state of one replica (no Ray in here: `build_app` wraps it in a deployment)."""

    def __init__(self, config: ServeConfig, replica: str):
        import torch

        from draggan_fast import load_generator
        from draggan_fast.assets_registry import default_model_path

        torch.set_num_threads(max(1, int(config.cpus_per_replica)))
        self.config, self.replica = config, replica
        self.store = CheckpointStore(config.checkpoint_dir, config.lease_s)
        self.generator = load_generator(config.model or default_model_path(), device=config.device)
        self.sessions: dict[str, HostedSession] = {}
        self._stopping = threading.Event()
        self._heartbeat = threading.Thread(target=self._renew_leases, daemon=True)
        self._heartbeat.start()

    def _renew_leases(self):
        while not self._stopping.wait(self.config.lease_s / 3):
            for session_id, hosted in list(self.sessions.items()):
                if not hosted.closed:
                    self.store.hold(session_id, self.replica)

    def load(self, session_id: str) -> HostedSession:
        """The multiplexed loader: the session restored from its checkpoint, or a new one."""
        check_session_id(session_id)
        holder = self.store.holder(session_id)
        if holder is not None and holder != self.replica:
            raise SessionElsewhere(f"session {session_id} is held by replica {holder}")
        if len(self.sessions) >= self.config.max_sessions:
            raise ReplicaFull(f"this replica holds {self.config.max_sessions} sessions")
        self.store.hold(session_id, self.replica)
        hosted = HostedSession(session_id, self.generator, self.store, self.replica, self.config)
        hosted.restore()
        self.sessions[session_id] = hosted
        return hosted

    def shutdown(self):
        self._stopping.set()
        for hosted in list(self.sessions.values()):
            hosted.release()


def build_app(config: ServeConfig):
    """The Ray Serve application (`serve.run(build_app(config))`)."""
    from fastapi import FastAPI, HTTPException, Request, Response
    from ray import serve

    api = FastAPI(title="draggan-fast sessions")
    actor_options = {"num_cpus": config.cpus_per_replica}
    if config.device == "cuda":
        actor_options["num_gpus"] = 1

    @serve.deployment(
        num_replicas=config.replicas, ray_actor_options=actor_options, max_ongoing_requests=256
    )
    @serve.ingress(api)
    class DragSessions:
        def __init__(self, config_values: dict):
            import ray

            name = ray.get_runtime_context().get_actor_name() or "replica"
            self.replica = SessionReplica(ServeConfig.from_dict(config_values), name)

        def __del__(self):
            self.replica.shutdown()

        @serve.multiplexed(max_num_models_per_replica=-1)
        async def get_session(self, session_id: str) -> HostedSession:
            return await asyncio.to_thread(self.replica.load, session_id)

        async def _session(self, request: Request, session_id: str) -> HostedSession:
            if request.headers.get(SESSION_HEADER) != session_id:
                raise HTTPException(400, f"send the session id in the {SESSION_HEADER} header")
            try:
                check_session_id(session_id)
                hosted = await self.get_session(session_id)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
            except (SessionElsewhere, ReplicaFull) as exc:
                raise HTTPException(503, str(exc), headers={"Retry-After": "1"}) from None
            if hosted.closed:
                raise HTTPException(404, f"session {session_id} was closed")
            return hosted

        async def _call(self, function, *args):
            try:
                return await asyncio.to_thread(function, *args)
            except SessionBusy as exc:
                raise HTTPException(409, str(exc)) from None
            except (ValueError, IndexError) as exc:
                raise HTTPException(400, str(exc)) from None

        @api.get("/healthz")
        async def healthz(self):
            return {
                "status": "ok", "replica": self.replica.replica,
                "sessions": len(self.replica.sessions),
                "max_sessions": self.replica.config.max_sessions,
            }  # fmt: skip

        @api.post("/sessions/{session_id}/open")
        async def open(self, session_id: str, request: Request):
            hosted = await self._session(request, session_id)
            body = await _json_body(request)
            image = await self._call(_image_settings, body)
            await self._call(hosted.open, image)
            return hosted.state()

        @api.post("/sessions/{session_id}/command")
        async def command(self, session_id: str, request: Request):
            hosted = await self._session(request, session_id)
            reply = await self._call(hosted.command, await _json_body(request))
            return {"type": "ok", **reply, "state": hosted.state()}

        @api.get("/sessions/{session_id}/state")
        async def state(self, session_id: str, request: Request):
            return (await self._session(request, session_id)).state()

        @api.get("/sessions/{session_id}/image")
        async def image(self, session_id: str, request: Request):
            hosted = await self._session(request, session_id)
            if hosted.running:
                raise HTTPException(409, "a drag is running: read the image after it stops")
            return Response(await self._call(hosted.image_png), media_type="image/png")

        @api.delete("/sessions/{session_id}")
        async def close(self, session_id: str, request: Request):
            hosted = await self._session(request, session_id)
            await self._call(hosted.close)
            self.replica.sessions.pop(session_id, None)  # its slot is free again
            return {"type": "ok", "closed": session_id}

    return DragSessions.bind(config.to_dict())


async def _json_body(request) -> dict:
    from fastapi import HTTPException

    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the request body must be a JSON object")
    return body


def _image_settings(body: dict) -> dict:
    """The open request's seed / truncation_psi / latent_space, checked as new_image's."""
    from draggan_fast.viewer.protocol import parse_command

    command = parse_command({**body, "type": "new_image"})
    if "model" in command:
        raise ValueError("the Ray app serves one model: open takes no 'model'")
    return {k: command[k] for k in ("seed", "truncation_psi", "latent_space") if k in command}


def app_builder(args: dict):
    """`serve run draggan_fast.serve.app:app_builder key=value ...` (ServeConfig's fields)."""
    return build_app(ServeConfig.from_dict(dict(args)))
