"""Whether two model directories hold the same model: every tensor equal, bit for bit.

    python benchmarks/same_model.py MODEL_DIR_A MODEL_DIR_B

Compares every tensor of ``model.pt`` and the pretrained vectors (``pretrained.npy``, or an older
model's ``pretrained.pt``), where there are any, with ``torch.equal``, and ``vocab.json`` and the ``model`` and tag-scheme entries of ``config.json``.
Prints one line per difference and exits 1 if there is any; used to show that a refactoring
leaves training bit-identical (same seed, same data, same CPU).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from bilstm_tagger.model.checkpoint import load_extra_word_vectors
from bilstm_tagger.model.config import ModelConfig


def differences(first: Path, second: Path) -> list[str]:
    found = []
    a = torch.load(first / "model.pt", weights_only=True)
    b = torch.load(second / "model.pt", weights_only=True)
    if a.keys() != b.keys():
        found.append(f"model.pt: tensors {sorted(a.keys() ^ b.keys())} are in one model only")
    found += [f"model.pt: {key} differs" for key in sorted(a.keys() & b.keys()) if not torch.equal(a[key], b[key])]
    with_vectors = [
        any((path / name).exists() for name in ("pretrained.npy", "pretrained.pt")) for path in (first, second)
    ]
    if any(with_vectors):
        if not all(with_vectors):
            found.append("pretrained vectors: in one model only")
        elif not torch.equal(load_extra_word_vectors(first), load_extra_word_vectors(second)):
            found.append("pretrained vectors differ")
    if json.loads((first / "vocab.json").read_text()) != json.loads((second / "vocab.json").read_text()):
        found.append("vocab.json differs")
    configs = [json.loads((path / "config.json").read_text()) for path in (first, second)]
    for key in ("tag_scheme", "data_scheme", "corpus"):
        if configs[0][key] != configs[1][key]:
            found.append(f"config.json: {key} differs")
    # Read as this version reads them: a model saved before a setting existed has its default.
    models = [ModelConfig.from_json(config["model"]).to_json() for config in configs]
    if models[0] != models[1]:
        found.append("config.json: model differs")
    return found


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    first, second = Path(sys.argv[1]), Path(sys.argv[2])
    found = differences(first, second)
    tensors = len(torch.load(first / "model.pt", weights_only=True))
    for line in found:
        print(line)
    print(f"{first} and {second}: {'DIFFERENT' if found else f'identical ({tensors} tensors of model.pt equal)'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
