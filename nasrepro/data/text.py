"""Word-level language-model corpora: PTB and WikiText-2 text files, and ENAS's ptb.pkl.

Two conventions exist and both are kept:
- `Corpus` (AWD-LSTM, DARTS, NAO, NAO-WS): every line's whitespace-split words plus `<eos>`;
  ids in order of first appearance over train, then valid, then test.
- ENAS's `ptb.pkl`: the file text with newlines replaced by `<eos>` and split on single spaces,
  ids from the sorted training words, one extra `<eos>` at the end of each split, stored as a
  protocol-2 pickle of (x_train, x_valid, x_test, vocab, index)."""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes
from ..errors import ConfigError, DataError

EOS = "<eos>"
SPLITS = ("train", "valid", "test")
# (train, valid, test) file names of the accepted layouts, in the order they are tried.
CORPUS_LAYOUTS = (
    ("train.txt", "valid.txt", "test.txt"),                      # AWD-LSTM/DARTS/NAO data/penn
    ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"),          # Mikolov's simple-examples
    ("wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"),  # the WikiText-2 archive
)
LAYOUT_HELP = "; or ".join(", ".join(names) for names in CORPUS_LAYOUTS)


def find_corpus_files(path: str | Path) -> dict[str, Path]:
    """The train/valid/test files of the first complete layout found in directory `path`."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: corpus folder not found; expected one of: {LAYOUT_HELP}")
    for names in CORPUS_LAYOUTS:
        if all((folder / n).is_file() for n in names):
            return {split: folder / n for split, n in zip(SPLITS, names)}
    partial = [names for names in CORPUS_LAYOUTS if any((folder / n).is_file() for n in names)]
    if partial:
        missing = [n for n in partial[0] if not (folder / n).is_file()]
        raise DataError(f"{folder}: incomplete corpus, missing {', '.join(missing)}")
    raise DataError(f"{folder}: no corpus files; expected one of: {LAYOUT_HELP}")


def _read_text(file: Path) -> str:
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{file}: not UTF-8 text ({err})") from None
    if not text.split():
        raise DataError(f"{file}: empty file (no words)")
    return text


class Dictionary:
    """word <-> id, ids in order of first appearance."""

    def __init__(self):
        self.word2idx: dict[str, int] = {}
        self.idx2word: list[str] = []

    def add_word(self, word: str) -> int:
        """The id of `word`, adding it if new."""
        if word not in self.word2idx:
            self.word2idx[word] = len(self.idx2word)
            self.idx2word.append(word)
        return self.word2idx[word]

    def __len__(self) -> int:
        return len(self.idx2word)


class Corpus:
    """train/valid/test id streams (int64 numpy arrays) of a PTB or WikiText-2 folder."""

    def __init__(self, path: str | Path):
        self.files = find_corpus_files(path)
        self.dictionary = Dictionary()
        self.train = self.tokenize(self.files["train"])
        self.valid = self.tokenize(self.files["valid"])
        self.test = self.tokenize(self.files["test"])

    def tokenize(self, file: Path) -> np.ndarray:
        """Ids of every line's words plus <eos>, growing the dictionary as needed."""
        add = self.dictionary.add_word
        # Lines as file iteration sees them: split on '\n' only, no empty line after the last.
        lines = _read_text(file).split("\n")
        if lines[-1] == "":
            lines.pop()
        ids = [add(w) for line in lines for w in line.split() + [EOS]]
        return np.asarray(ids, dtype=np.int64)


def batchify(data, batch_size: int):
    """Trim to a multiple of batch_size and lay out time-major (T, batch_size).

    Column j is the j-th contiguous slice of the stream. Works on numpy arrays and torch
    tensors (returns the same kind)."""
    if batch_size < 1 or batch_size > len(data):
        raise ConfigError(f"batch_size={batch_size} must be in 1..{len(data)} "
                          f"(the length of the id stream)")
    steps = len(data) // batch_size
    columns = data[:steps * batch_size].reshape(batch_size, steps)
    if isinstance(columns, np.ndarray):
        return np.ascontiguousarray(columns.T)
    return columns.t().contiguous()


# ---------------------------------------------------------------- ENAS ptb.pkl

@dataclass
class EnasPtb:
    """The contents of ENAS's ptb.pkl: int32 id arrays and the vocabulary maps."""
    x_train: np.ndarray
    x_valid: np.ndarray
    x_test: np.ndarray
    vocab: dict[str, int]
    index: dict[int, str]


def enas_tokens(text: str, where: str = "text") -> list[str]:
    """ENAS's tokenization: strip, newline -> <eos>, split on single spaces, final <eos>.

    This relies on PTB's line format (a space before and after the words of every line).
    Text without it would glue words to <eos> or make empty tokens; that is refused."""
    words = text.strip().replace("\n", EOS).split(" ")
    for position, word in enumerate(words):
        if word == "" or (EOS in word and word != EOS):
            line = sum(w.count(EOS) for w in words[:position]) + 1
            raise DataError(f"{where}: line {line} gives the token {word!r} under ENAS's "
                            f"split on single spaces; expected PTB's format (one space "
                            f"between words and around each line, no blank lines)")
    return words + [EOS]


def build_enas_ptb(path: str | Path) -> EnasPtb:
    """Build the ptb.pkl contents from a corpus folder (any layout `Corpus` accepts)."""
    files = find_corpus_files(path)
    tokens = {s: enas_tokens(_read_text(files[s]), str(files[s])) for s in SPLITS}
    words = sorted(set(tokens["train"]))
    vocab = {w: i for i, w in enumerate(words)}
    xs = {}
    for split in SPLITS:
        unknown = [w for w in tokens[split] if w not in vocab]
        if unknown:
            raise DataError(f"{files[split]}: {len(unknown)} token(s) not in the training "
                            f"vocabulary (first: {unknown[0]!r}); ENAS's ptb.pkl has a fixed "
                            f"vocabulary, so valid/test words must appear in train "
                            f"(map them to <unk>)")
        xs[split] = np.asarray([vocab[w] for w in tokens[split]], dtype=np.int32)
    return EnasPtb(xs["train"], xs["valid"], xs["test"], vocab, dict(enumerate(words)))


def write_enas_ptb_pickle(data: EnasPtb, out_path: str | Path) -> Path:
    """Write the 5-tuple pickle (protocol 2, as the original) atomically."""
    payload = (data.x_train, data.x_valid, data.x_test, data.vocab, data.index)
    return atomic_write_bytes(out_path, pickle.dumps(payload, protocol=2))


def read_enas_ptb_pickle(path: str | Path) -> EnasPtb:
    """Read and validate a ptb.pkl (a file, or a folder holding ptb.pkl)."""
    path = Path(path)
    if path.is_dir():
        path = path / "ptb.pkl"
    if not path.is_file():
        raise DataError(f"{path}: ENAS PTB pickle not found; expected a ptb.pkl file "
                        f"(build it from train.txt/valid.txt/test.txt with build_enas_ptb)")
    try:
        with open(path, "rb") as f:
            # latin1 lets Python-2-era pickles of numpy arrays load.
            payload = pickle.load(f, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise DataError(f"{path}: not a readable pickle ({err})") from None
    if not isinstance(payload, tuple) or len(payload) != 5:
        raise DataError(f"{path}: expected a 5-tuple (x_train, x_valid, x_test, vocab, "
                        f"index), got {type(payload).__name__}"
                        f"{' of length %d' % len(payload) if isinstance(payload, tuple) else ''}")
    *streams, vocab, index = payload
    if not isinstance(vocab, dict) or not isinstance(index, dict) or len(vocab) != len(index):
        raise DataError(f"{path}: vocab (word->id) and index (id->word) must be dicts of the "
                        f"same size")
    if any(index.get(i) != w for w, i in vocab.items()):
        raise DataError(f"{path}: vocab and index are not inverse maps")
    checked = []
    for name, x in zip(("x_train", "x_valid", "x_test"), streams):
        x = np.asarray(x)
        if x.ndim != 1 or x.size == 0 or not np.issubdtype(x.dtype, np.integer):
            raise DataError(f"{path}: {name} must be a non-empty 1-D integer array, got "
                            f"{x.dtype} of shape {x.shape}")
        bad = np.flatnonzero((x < 0) | (x >= len(vocab)))
        if bad.size:
            raise DataError(f"{path}: {name}[{int(bad[0])}] = {int(x[bad[0]])} is not a "
                            f"vocabulary id (0..{len(vocab) - 1})")
        checked.append(x)
    return EnasPtb(*checked, vocab, index)
