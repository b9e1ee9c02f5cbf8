"""`draggan-fast view`: serve the web viewer for interactive drags and open it in a browser."""

import argparse
import asyncio
import webbrowser

from draggan_fast.cli import CommandError
from draggan_fast.cli.args import (
    add_device_argument,
    add_drag_setting_arguments,
    drag_settings,
    pick_device,
)

NAME = "view"
HELP = "serve the web viewer (loopback only unless --host says otherwise) and open it"


def add_arguments(parser):
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="PATH",
        help="generator file to serve (repeatable); default: the bundled model",
    )
    parser.add_argument(
        "--models-dir", metavar="DIR", help="also offer every model file in this folder"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this machine only)",
    )
    parser.add_argument("--port", type=int, default=7860, help="port (0: any free one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    add_device_argument(parser)
    parser.add_argument("--backend", default="fast", help="drag step backend")
    add_drag_setting_arguments(parser)
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=4,
        help="concurrent sessions (browser tabs) allowed",
    )
    parser.add_argument(
        "--idle-minutes",
        type=float,
        default=15.0,
        metavar="MINUTES",
        help="expire a session idle this long (saved first when --save-dir is given)",
    )
    parser.add_argument(
        "--save-dir", metavar="DIR", help="save expiring idle sessions here, one folder each"
    )
    parser.add_argument(
        "--max-commands-per-s",
        type=float,
        default=50.0,
        help="commands one connection may send a second (after a burst of 100)",
    )
    parser.add_argument(
        "--max-message-mb",
        type=float,
        default=8.0,
        help="largest message a client may send, in MiB",
    )
    parser.add_argument(
        "--max-batch", type=int, default=8, metavar="N",
        help="step up to N dragging sessions on the device as one batch (1: each alone, in "
        "turn; default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-memory-mb", type=float, default=None, metavar="MB",
        help="memory the sessions of one batch may take beyond the first (default: no bound)",
    )  # fmt: skip
    parser.add_argument(
        "--allow-origin", action="append", default=[], type=web_origin, metavar="ORIGIN",
        help="another page origin allowed to connect, as scheme://host[:port] (repeatable)",
    )  # fmt: skip


def web_origin(text: str) -> str:
    """argparse type: a web origin as browsers send it, "http(s)://host[:port]", nothing more."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        port = parts.port  # a bad port raises here
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an origin ({exc})") from None
    bare = not (parts.path or parts.query or parts.fragment or parts.username or parts.password)
    if parts.scheme not in ("http", "https") or not parts.hostname or not bare:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an origin: give scheme://host[:port], e.g. http://localhost:8000"
        )
    netloc = parts.netloc.lower()
    if (parts.scheme, port) in (("http", 80), ("https", 443)):  # as a browser writes it
        netloc = netloc.rsplit(":", 1)[0]
    return f"{parts.scheme}://{netloc}"


def _model_paths(args):
    if args.model or args.models_dir:
        return args.model
    from draggan_fast.assets_registry import default_model_path

    try:
        return [default_model_path()]
    except FileNotFoundError as exc:
        raise CommandError(
            f"no --model given and no bundled default model is available ({exc}); "
            "pass --model PATH to a generator file"
        ) from None


def run(args) -> int:
    from draggan_fast.viewer.models import ModelRegistry
    from draggan_fast.viewer.server import ViewerConfig, create_app

    if not 1 <= args.max_sessions <= 64:
        raise CommandError(f"--max-sessions must be in [1, 64], got {args.max_sessions}")
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port must be in [0, 65535], got {args.port}")
    if min(args.idle_minutes, args.max_message_mb, args.max_commands_per_s) <= 0:
        raise CommandError("--idle-minutes, --max-message-mb and --max-commands-per-s must be > 0")
    if not 1 <= args.max_batch <= 256:
        raise CommandError(f"--max-batch must be in [1, 256], got {args.max_batch}")
    if args.batch_memory_mb is not None and args.batch_memory_mb <= 0:
        raise CommandError(f"--batch-memory-mb must be positive, got {args.batch_memory_mb}")
    batch_memory = None
    if args.batch_memory_mb is not None:
        batch_memory = int(args.batch_memory_mb * 1024 * 1024)
    registry = ModelRegistry(_model_paths(args), args.models_dir, device=pick_device(args.device))
    from draggan_fast import DragSession

    # A broken model file or an unavailable backend fails now, not in the browser.
    probe = DragSession(
        registry.get(registry.default_name), backend=args.backend, **drag_settings(args)
    )
    print(f"model {registry.default_name}, backend: {probe.backend}; "
          f"settings: {probe.describe_settings()} (the page can change them)")  # fmt: skip
    config = ViewerConfig(
        host=args.host, max_sessions=args.max_sessions, idle_timeout_s=args.idle_minutes * 60.0,
        save_dir=args.save_dir, max_commands_per_s=args.max_commands_per_s,
        max_message_bytes=int(args.max_message_mb * 1024 * 1024),
        allowed_origins=tuple(args.allow_origin),
        session_options={
            "backend": args.backend, "max_batch": args.max_batch,
            "batch_memory_bytes": batch_memory, **drag_settings(args),
        },
    )  # fmt: skip
    if not config.loopback:
        print(f"warning: serving on {args.host}: anyone who can reach this address can use it")
    return asyncio.run(_serve(create_app(registry, config), config, args))


async def _serve(app, config, args) -> int:
    from aiohttp import web

    from draggan_fast.viewer.server import page_url

    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, args.port)
        try:
            await site.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {config.host}:{args.port}: {exc}") from None
        url = page_url(config.host, runner.addresses[0][1]) + "/"
        print(f"draggan-fast viewer on {url} (Ctrl+C to stop)", flush=True)
        if not args.no_browser:
            webbrowser.open(url)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
    return 0
