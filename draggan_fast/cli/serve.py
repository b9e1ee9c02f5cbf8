"""`draggan-fast serve --ray`: deploy the drag session server on Ray Serve (N replicas)."""

import threading

from draggan_fast.cli import CommandError

NAME = "serve"
HELP = "deploy the session server on Ray Serve: --ray --replicas N (docs/serving.md)"


def add_arguments(parser):
    parser.add_argument(
        "--ray", action="store_true",
        help="deploy on Ray Serve (needs pip install draggan-fast[serve]); the single-process "
        "server is `draggan-fast view`",
    )  # fmt: skip
    parser.add_argument("--replicas", type=int, default=2, help="replicas, one device each")
    parser.add_argument(
        "--checkpoint-dir", metavar="DIR", required=False,
        help="directory every replica can reach; sessions checkpoint and are restored there",
    )  # fmt: skip
    parser.add_argument(
        "--checkpoint-every", type=int, default=10, metavar="STEPS",
        help="steps of a running drag between two automatic checkpoints (the most a replica "
        "failure can lose)",
    )  # fmt: skip
    parser.add_argument(
        "--lease-s", type=float, default=3.0,
        help="seconds after which a silent replica's sessions may be restored elsewhere",
    )  # fmt: skip
    parser.add_argument("--model", metavar="PATH", help="generator file (default: the bundled)")
    parser.add_argument("--backend", default="reference", help="drag step backend")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="per replica")
    parser.add_argument("--cpus-per-replica", type=float, default=1.0, help="Ray CPUs each")
    parser.add_argument("--max-sessions", type=int, default=16, help="sessions per replica")
    parser.add_argument("--host", default="127.0.0.1", help="address of Serve's HTTP proxy")
    parser.add_argument("--port", type=int, default=8000, help="port of Serve's HTTP proxy")
    parser.add_argument(
        "--address", metavar="RAY_ADDRESS",
        help="an existing Ray cluster (default: start a local Ray instance)",
    )  # fmt: skip


def _config(args):
    from draggan_fast.serve.config import ServeConfig

    if not args.checkpoint_dir:
        raise CommandError("--checkpoint-dir is required: a directory every replica can reach")
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port must be in [0, 65535], got {args.port}")
    return ServeConfig(
        checkpoint_dir=args.checkpoint_dir, replicas=args.replicas,
        checkpoint_every=args.checkpoint_every, lease_s=args.lease_s, model=args.model,
        backend=args.backend, device=args.device, cpus_per_replica=args.cpus_per_replica,
        max_sessions=args.max_sessions,
    )  # fmt: skip


def run(args) -> int:
    if not args.ray:
        raise CommandError(
            "serve deploys on Ray Serve: add --ray (the single-process server is "
            "`draggan-fast view`)"
        )
    config = _config(args)
    try:
        import ray
        from ray import serve
    except ImportError:
        raise CommandError("Ray Serve is not installed: pip install draggan-fast[serve]") from None
    from draggan_fast.serve.app import build_app

    ray.init(address=args.address, include_dashboard=False)
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        print(f"deploying {config.replicas} replicas on Ray Serve ...", flush=True)
        serve.run(build_app(config), name="draggan", route_prefix="/", blocking=False)
        print(
            f"draggan-fast on Ray Serve: http://{args.host}:{args.port}/ ({config.replicas} "
            f"replicas, checkpoints every {config.checkpoint_every} steps in "
            f"{config.checkpoint_dir}); Ctrl+C to stop",
            flush=True,
        )
        threading.Event().wait()
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0
