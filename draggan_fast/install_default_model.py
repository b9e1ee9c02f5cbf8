"""Install a training run as the bundled default model and write its model card.

    python -m draggan_fast.install_default_model RUN_FOLDER [--eval-json EVAL.json]

The generator and detector go to the package's assets (`assets_registry`), the sample grid and
the card to docs/ (docs/default-model.md); the work is `stylegan.training.model_card`'s.
"""

import argparse
from pathlib import Path

from draggan_fast.assets_registry import ASSETS, DEFAULT_DETECTOR, DEFAULT_MODEL
from draggan_fast.stylegan.training.model_card import BundledFiles, install, write_card

REPO = Path(__file__).resolve().parents[1]
BUNDLED = BundledFiles(
    root=REPO,
    model=ASSETS / DEFAULT_MODEL,
    detector=ASSETS / DEFAULT_DETECTOR,
    card=REPO / "docs" / "default-model.md",
    samples=REPO / "docs" / "default-model-samples.png",
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_folder", type=Path)
    parser.add_argument("--eval-json", type=Path, default=None)
    parser.add_argument("--card-only", action="store_true", help="keep the bundled files")
    parser.add_argument("--notes", default="", help="a paragraph added to the Training section")
    args = parser.parse_args(argv)
    if not args.card_only:
        install(args.run_folder, BUNDLED)
    write_card(args.run_folder, BUNDLED, args.eval_json, args.notes)
    print(f"wrote {BUNDLED.card}")


if __name__ == "__main__":
    main()
