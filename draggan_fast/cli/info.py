"""`draggan-fast info`: the build of the compiled ops, which implementation each op runs, and
which fast paths of the `fast` backend apply to which generator family."""

import json
import platform

from draggan_fast.cli import CommandError

NAME = "info"
HELP = (
    "show the compiled-ops build (torch/CUDA versions, archs), per-device op dispatch and the "
    "fast paths per generator family"
)


def add_arguments(parser):
    parser.add_argument(
        "--device", action="append", metavar="DEVICE",
        help="device to describe dispatch for (repeatable; default: cpu, and cuda if present)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")


def _compiled_ops():
    """Names of the draggan_fast ops with a compiled kernel, per device type."""
    from draggan_fast.stylegan.ops import extension

    return {
        device_type: [
            op for op in extension.compiled_ops() if extension.has_kernel(op, device_type)
        ]
        for device_type in ("cpu", "cuda")
    }


def _dispatch_rows(device):
    """`draggan_fast.dispatch.describe(device)`: one row per op of both families (one
    "unavailable" row if draggan_fast.kernels cannot be imported, so that `info` still reports
    on a broken install)."""
    from draggan_fast import dispatch

    rows = []
    try:
        import draggan_fast.kernels  # registers the drag ops
    except ImportError as exc:
        rows.append(
            {
                "op": "drag ops",
                "family": "drag",
                "implementation": "unavailable",
                "reason": str(exc),
            }
        )
    import draggan_fast.stylegan.ops  # noqa: F401  (registers the generator ops)

    return dispatch.describe(device) + rows


def _fast_paths_by_family():
    """{family: {fast path: whether and how it applies}} of the fast backend (an "unavailable"
    entry if it cannot be imported, so that `info` still reports on a broken install)."""
    try:
        from draggan_fast.step.fast import FAST_PATHS_BY_FAMILY
    except ImportError as exc:
        return {"all": {"fast backend": f"unavailable ({exc})"}}
    return FAST_PATHS_BY_FAMILY


def collect(devices=None):
    """Everything `info` prints, as a dict."""
    import torch

    from draggan_fast.stylegan.ops import extension

    if not devices:
        devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    build = extension.build_info()
    report = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "extension": build,
        "compiled_ops": _compiled_ops() if build["available"] else {},
        "dispatch": {},
        "fast_paths_by_family": _fast_paths_by_family(),
    }
    for device in devices:
        try:
            torch.device(device)
        except RuntimeError as exc:
            raise CommandError(f"--device {device!r} is not a torch device ({exc})") from None
        rows = _dispatch_rows(device)
        report["dispatch"][device] = {
            "generator_ops": [row for row in rows if row["family"] == "generator"],
            "drag_ops": [row for row in rows if row["family"] != "generator"],
        }
    return report


def _print_text(report):
    build = report["extension"]
    print(f"python {report['python']}, torch {report['torch']} (CUDA {report['torch_cuda']})")
    print(f"GPU: {report['gpu'] or 'none'}")
    if build["available"]:
        print(
            f"compiled ops: built against torch {build['torch_version']}, "
            f"CUDA {build['cuda_version']}, archs {build['cuda_archs'] or 'none'}, "
            f"compiler {build['compiler']}"
        )
        if build.get("with_cuda"):
            print(f"  nvcc {build['nvcc_version']}, SM code for {build['nvcc_archs']}")
        for device_type, names in report["compiled_ops"].items():
            print(f"  {device_type} kernels: {', '.join(names) or 'none'}")
    else:
        print(f"compiled ops: not available ({build['reason']})")
    for device, tables in report["dispatch"].items():
        print(f"dispatch on {device}:")
        for row in tables["generator_ops"] + tables["drag_ops"]:
            print(f"  {row['op']:<32} {row['implementation']:<10} {row['reason']}")
    print("fast paths per family (the fast backend; session.backend names the choice made):")
    for family, paths in report["fast_paths_by_family"].items():
        print(f"  {family}:")
        for path, applies in paths.items():
            print(f"    {path}: {applies}")


def run(args):
    report = collect(args.device)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_text(report)
    return 0
