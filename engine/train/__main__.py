"""python -m engine.train NAME [--seed N] [--epochs N]: train a built-in network and store it.

Writes engine/weights/NAME.npz (the state dict, no pickles) and engine/weights/NAME.json (the card: data,
split, epochs, seed, held-out score, training time, machine). Seeded: the same command gives the same weights
on the same machine and library versions.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from engine.backend import get_backend, set_backend, to_numpy
from engine.models import BUILTIN_MODELS, WEIGHTS_DIR
from engine.train import DATA, RECIPES, SPLIT
from engine.train.common import parameter_count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.train", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(RECIPES), help="the built-in network to train")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and batch order")
    parser.add_argument("--epochs", type=int, default=None, help="passes over the training data (default: the recipe's)")
    parser.add_argument("--output-dir", default=str(WEIGHTS_DIR), help="where NAME.npz and NAME.json go")
    args = parser.parse_args(argv)

    set_backend("cpu")  # the recorded times are for this machine's CPU
    recipe = RECIPES[args.name]
    started = time.perf_counter()
    network, facts = recipe.train(args.name, args.seed, **({"epochs": args.epochs} if args.epochs else {}))
    seconds = time.perf_counter() - started
    score = recipe.evaluate(args.name, network)

    card = {
        "name": args.name,
        "title": BUILTIN_MODELS[args.name].title,
        "data": DATA[args.name],
        "split": SPLIT[args.name],
        **facts,
        "seed": args.seed,
        **score,
        "train_seconds": round(seconds, 1),
        "parameters": parameter_count(network),
        "machine": f"{get_backend().device_name} ({os.cpu_count()} CPUs), {platform.python_implementation()} {platform.python_version()}, "
                   f"NumPy {np.__version__}",
        "command": f"python -m engine.train {args.name} --seed {args.seed}"
                   + (f" --epochs {args.epochs}" if args.epochs else ""),
        "date": datetime.date.today().isoformat(),
    }
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(output / f"{args.name}.npz", **{k: to_numpy(v) for k, v in network.state_dict().items()})
    (output / f"{args.name}.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({k: card[k] for k in ("name", "metric", "held_out_score", "train_seconds")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
