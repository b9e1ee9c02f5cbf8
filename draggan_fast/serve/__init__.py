"""Drag sessions served by Ray Serve: N replicas, each owning a device and its sessions.

`draggan-fast serve --ray --replicas N` (or `serve run` with `app:app_builder`, docs/serving.md)
deploys `app.py`'s deployment. A session is pinned to its replica by Ray Serve's multiplexed
routing (the `serve_multiplexed_model_id` header carries the session id), checkpoints itself to
a directory every replica shares (`checkpoints.py`), and is restored from there by whichever
replica gets its next request after its own replica died. `client.py` drives it over HTTP JSON
and retries through a failover. Nothing here imports Ray until a deployment is built.
"""
