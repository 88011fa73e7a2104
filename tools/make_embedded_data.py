"""Rebuild the committed embedded datasets in nasrepro/data/embedded/ from Debian packages.

Provenance script: run it to check that the committed files are what it says they are.

    apt-get install -y dataset-fashion-mnist bible-kjv      # bible-kjv pulls bible-kjv-text
    python tools/make_embedded_data.py                      # rewrites nasrepro/data/embedded/
    python tools/make_embedded_data.py --check              # rebuilds in memory, compares

Images: the first FASHION_TRAIN_PER_CLASS training and FASHION_TEST_PER_CLASS test images of
each class of Fashion-MNIST, interleaved so that every block of 10 images holds one image of
each class (so the tail a reader takes as validation set is class-balanced).

Text: the King James Bible, one verse per line, tokenized the way the Penn Treebank was
prepared (see `ptb_style_tokens`), split by book into train/valid/test, with the 9,998 most
frequent training words kept and everything else replaced by `<unk>` (with `<eos>` added by
the readers that makes a 10,000-word vocabulary, as PTB's).

Output is deterministic: same inputs, same bytes."""
from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import io
import lzma
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_TRAIN_PER_CLASS = 1000
FASHION_TEST_PER_CLASS = 200
OUT_DIR = Path(__file__).resolve().parent.parent / "nasrepro" / "data" / "embedded"

# Held-out books: each split mixes narrative, poetry/prophecy and New Testament prose, and each
# is about 5% of the words (valid 5.0%, test 4.9%).
VALID_BOOKS = ("Joshua", "Mark", "Lamentations", "Philippians")
TEST_BOOKS = ("Judges", "Proverbs", "James", "1 Peter")
VOCAB_WORDS = 9998  # plus <unk> in the files and <eos> added by readers = 10,000
XZ_PRESET = 9 | lzma.PRESET_EXTREME


# ---------------------------------------------------------------- Fashion-MNIST (IDX files)

def read_idx_gz(path: Path) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes (the MNIST/Fashion-MNIST format)."""
    raw = gzip.open(path).read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (magic {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise ValueError(f"{path}: header says shape {shape} ({expected} bytes), "
                         f"file has {len(raw) - header} data bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """The first `per_class` examples of every class (file order), interleaved by rank.

    Position block r holds the r-th chosen example of each of the 10 classes, in an order
    fixed by a hash (not a RNG, whose streams may change between numpy versions). So every
    run of 10 consecutive images, and any tail a reader splits off as validation, is
    class-balanced, without a periodic label pattern."""
    classes = range(int(labels.max()) + 1)
    chosen = [np.flatnonzero(labels == c)[:per_class] for c in classes]
    if any(len(c) < per_class for c in chosen):
        raise ValueError(f"some class has fewer than {per_class} examples")
    order = []
    for rank in range(per_class):
        shuffled = sorted(classes, key=lambda c: hashlib.sha256(f"{rank}/{c}".encode()).digest())
        order += [int(chosen[c][rank]) for c in shuffled]
    return np.asarray(order)


def fashion_subset(fashion_dir: Path) -> dict[str, np.ndarray]:
    """The class-balanced Fashion-MNIST subset, as four uint8 arrays."""
    out = {}
    for split, prefix, per_class in (("train", "train", FASHION_TRAIN_PER_CLASS),
                                     ("test", "t10k", FASHION_TEST_PER_CLASS)):
        images = read_idx_gz(fashion_dir / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx_gz(fashion_dir / f"{prefix}-labels-idx1-ubyte.gz")
        keep = first_per_class(labels, per_class)
        out[f"fashion_{split}_images"] = np.ascontiguousarray(images[keep])
        out[f"fashion_{split}_labels"] = np.ascontiguousarray(labels[keep])
    return out


def npy_bytes(array: np.ndarray) -> bytes:
    """The .npy serialization of an array (deterministic, unlike .npz which stores mtimes)."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


# ---------------------------------------------------------------- King James Bible

def kjv_text() -> str:
    """The whole KJV as printed by Debian's `bible` program, one verse per line."""
    return subprocess.run(["bible", "-l100000", "Gen1:1-Rev22:21"], check=True,
                          capture_output=True, text=True).stdout


def parse_bible_output(text: str) -> list[tuple[str, str]]:
    """(book, verse text) pairs from `bible` output: 'Book N' headings, indented verses."""
    verses, book = [], None
    for line in text.splitlines():
        verse = re.match(r"^\s+\d+ (.*)$", line)
        if verse:
            if book is None:
                raise ValueError(f"verse before any chapter heading: {line!r}")
            verses.append((book, verse.group(1)))
        elif line.strip():
            book = line.strip().rsplit(" ", 1)[0]
    return verses


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)*(?:'s)?|N")


def ptb_style_tokens(text: str) -> list[str]:
    """Tokenize like PTB: lower case, numbers -> N, split off 's, drop other punctuation.

    Hyphenated words stay one token (as in PTB); apostrophes other than a final 's are
    dropped ("fathers'" -> "fathers")."""
    text = _NUMBER.sub(" N ", text.lower().replace("\u2019", "'"))
    tokens = []
    for token in _TOKEN.findall(text):
        if token.endswith("'s") and len(token) > 2:
            tokens += [token[:-2], "'s"]
        else:
            tokens.append(token)
    return tokens


def kjv_splits(verses: list[tuple[str, str]]) -> dict[str, list[list[str]]]:
    """Tokenized verses split by book, with rare words replaced by <unk>."""
    books = {book for book, _ in verses}
    missing = set(VALID_BOOKS + TEST_BOOKS) - books
    if missing:
        raise ValueError(f"books not found in the text: {sorted(missing)}")
    splits: dict[str, list[list[str]]] = {"train": [], "valid": [], "test": []}
    for book, verse in verses:
        split = "valid" if book in VALID_BOOKS else "test" if book in TEST_BOOKS else "train"
        tokens = ptb_style_tokens(verse)
        if tokens:
            splits[split].append(tokens)
    counts = collections.Counter(t for line in splits["train"] for t in line)
    # Ties broken alphabetically so the vocabulary does not depend on dict order.
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    vocab = {word for word, _ in ranked[:VOCAB_WORDS]}
    return {split: [[t if t in vocab else "<unk>" for t in line] for line in lines]
            for split, lines in splits.items()}


def ptb_lines(lines: list[list[str]]) -> bytes:
    """PTB's line format: a leading and a trailing space around the tokens."""
    return "".join(" " + " ".join(line) + " \n" for line in lines).encode("utf-8")


# ---------------------------------------------------------------- main

def build(fashion_dir: Path, bible_text: str) -> dict[str, bytes]:
    """All committed files (name -> xz-compressed bytes)."""
    files = {f"{name}.npy.xz": lzma.compress(npy_bytes(array), preset=XZ_PRESET)
             for name, array in fashion_subset(fashion_dir).items()}
    for split, lines in kjv_splits(parse_bible_output(bible_text)).items():
        files[f"kjv.{split}.txt.xz"] = lzma.compress(ptb_lines(lines), preset=XZ_PRESET)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fashion_dir", type=Path, default=FASHION_DIR)
    parser.add_argument("--bible_text", type=Path, default=None,
                        help="saved output of `bible -l100000 Gen1:1-Rev22:21` (default: run it)")
    parser.add_argument("--out_dir", type=Path, default=OUT_DIR)
    parser.add_argument("--check", action="store_true",
                        help="compare with the files in --out_dir instead of writing")
    args = parser.parse_args(argv)
    text = args.bible_text.read_text() if args.bible_text else kjv_text()
    files = build(args.fashion_dir, text)
    status = 0
    for name, data in sorted(files.items()):
        target = args.out_dir / name
        digest = hashlib.sha256(data).hexdigest()
        if args.check:
            same = target.exists() and target.read_bytes() == data
            status |= 0 if same else 1
            print(f"{'same' if same else 'DIFFERENT'}  {name}  sha256={digest}")
        else:
            args.out_dir.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            print(f"wrote {target} ({len(data)} bytes, sha256={digest})")
    return status


if __name__ == "__main__":
    sys.exit(main())
