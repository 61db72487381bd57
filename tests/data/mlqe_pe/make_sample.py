"""Rebuild sample.jsonl from MLQE-PE's Romanian-English training split (CC0 1.0).

    tar xzf ro-en-train.tar.gz   # data/post-editing/train/ in github.com/sheffieldnlp/mlqe-pe
    python tests/data/mlqe_pe/make_sample.py ro-en-train > tests/data/mlqe_pe/sample.jsonl

400 pairs drawn uniformly with a fixed seed (unedited pairs included); the corpus is
tokenised, so spaces before punctuation and inside contractions are taken out again.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

SIZE = 400
SEED = 20


def detokenised(text: str) -> str:
    """The sentence as a person writes it.

    >>> detokenised("It 's here , he said ( in 2019 ) : \\" yes \\" .")
    'It\\'s here, he said (in 2019): " yes ".'
    """
    text = re.sub(r" ([,.;:!?%)\]])", r"\1", text.strip())
    text = re.sub(r"([(\[]) ", r"\1", text)
    return re.sub(r" (['’](?:s|t|re|ve|ll|d|m)\b)", r"\1", text)


def main(folder: Path) -> None:
    mt = (folder / "train.mt").read_text("utf-8").splitlines()
    pe = (folder / "train.pe").read_text("utf-8").splitlines()
    picked = sorted(random.Random(SEED).sample(range(len(mt)), SIZE))
    for line in picked:
        row = {"line": line + 1, "mt": detokenised(mt[line]), "pe": detokenised(pe[line])}
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
