"""`draggan-fast bench`: time real drag steps per backend, side by side in one run."""

import argparse
import sys

from draggan_fast.cli.args import add_device_argument, parse_backends, pick_device

NAME = "bench"
HELP = "benchmark drag steps: ms per step, phase breakdown, peak memory, fast/reference ratio"

ARCH_HELP = (
    "generator shape with random weights: ffhq512, afhq512, car512 (512 px config-f), 256, 1024, "
    "sg3t512, sg3r512, sg3t1024, sg3r1024 (StyleGAN3-T/R), human1024 (StyleGAN-Human 1024x512), "
    "tiny (64 px, smoke tests); or default (the bundled model)"
)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def add_arguments(parser):
    from draggan_fast.bench.presets import ARCH_CHOICES

    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", metavar="PATH", help="a generator checkpoint to load")
    source.add_argument(
        "--arch", choices=ARCH_CHOICES, help=ARCH_HELP + " (default: 256 unless --model)"
    )
    parser.add_argument(
        "--backend", "--backends", dest="backend", default="fast,reference",
        help="comma-separated backends, each in its own process",
    )  # fmt: skip
    parser.add_argument("--compile", action="store_true", help="torch.compile the drag step")
    parser.add_argument(
        "--no-cuda-graph", action="store_true",
        help="the fast backend without its CUDA graph on CUDA (DragSession(cuda_graph=False))",
    )  # fmt: skip
    add_device_argument(parser)
    parser.add_argument("--steps", type=_positive_int, default=10, help="timed steps")
    parser.add_argument(
        "--warmup", type=_non_negative_int, default=2, help="warm-up steps, not timed"
    )
    parser.add_argument("--handles", type=_positive_int, default=1, help="handle points")
    parser.add_argument("--mask", action="store_true", help="add a movable mask (mask term on)")
    parser.add_argument(
        "--render-every", type=_non_negative_int, default=1, metavar="N",
        help="render the image every N steps, as a viewer would; 0: never",
    )  # fmt: skip
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="start latent seed")
    parser.add_argument(
        "--profile", metavar="DIR",
        help="keep a Chrome trace per configuration in DIR and print the top operators",
    )  # fmt: skip
    parser.add_argument(
        "--profile-steps", type=_non_negative_int, default=2, metavar="N",
        help="steps run under the profiler for the breakdown and trace; 0: none",
    )  # fmt: skip
    parser.add_argument("--json", metavar="OUT", help="write the full report as JSON to OUT")
    parser.add_argument(
        "--sessions", metavar="N,N,...",
        help="instead: N sessions stepped as one batch vs one after another, e.g. 1,2,4,8 "
        "(aggregate steps/s and per-session step latency, side by side)",
    )  # fmt: skip


def _run_sessions(args, arch) -> int:
    from draggan_fast.bench import presets, report, sessions
    from draggan_fast.bench.workload import DragWorkload

    if args.compile or args.no_cuda_graph or args.profile is not None:
        raise ValueError("--sessions does not take --compile, --no-cuda-graph or --profile")
    options = sessions.SessionsOptions(
        source=presets.describe_source(arch, args.model),
        backends=parse_backends("--backend", args.backend),
        device=pick_device(args.device),
        counts=sessions.parse_counts(args.sessions),
        steps=args.steps,
        warmup=args.warmup,
        workload=DragWorkload(
            handles=args.handles, mask=args.mask, render_every=args.render_every, seed=args.seed
        ),
    )
    document = sessions.run_sessions_benchmark(
        options, argv=sys.argv, progress=lambda text: print(text, file=sys.stderr, flush=True)
    )
    print(sessions.format_sessions_report(document), end="")
    if args.json is not None:
        print(f"report: {report.write_json(document, args.json)}")
    return 0


def run(args) -> int:
    from draggan_fast.bench import presets, report, runner
    from draggan_fast.bench.workload import DragWorkload

    arch = args.arch if args.arch is not None or args.model is not None else "256"
    if args.sessions is not None:
        return _run_sessions(args, arch)
    if args.profile is not None and args.profile_steps == 0:
        raise ValueError("--profile needs --profile-steps of at least 1")
    source = presets.describe_source(arch, args.model)
    if source["kind"] != "preset":
        presets.build_generator(source)  # a missing or unusable file fails here, in one line
    options = runner.BenchOptions(
        source=source,
        backends=parse_backends("--backend", args.backend),
        device=pick_device(args.device),
        steps=args.steps,
        warmup=args.warmup,
        profile_steps=args.profile_steps,
        compile=args.compile,
        eager_fast=args.no_cuda_graph,
        workload=DragWorkload(
            handles=args.handles, mask=args.mask, render_every=args.render_every, seed=args.seed
        ),
        profile_dir=args.profile,
    )
    document = runner.run_benchmark(options, argv=sys.argv)
    print(report.format_report(document, show_operators=args.profile is not None), end="")
    if args.json is not None:
        path = report.write_json(document, args.json)
        print(f"report: {path}")
    failed = [r for r in document["results"] if r["status"] != "ok"]
    return 1 if failed else 0
