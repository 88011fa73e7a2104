"""Word-level corpora: AWD-style Corpus, batchify and ENAS's ptb.pkl (nasrepro.data.text)."""
import pickle

import numpy as np
import pytest
import torch

from nasrepro.data import text
from nasrepro.data.embedded_data import embedded_path
from nasrepro.data.text import (Corpus, batchify, build_enas_ptb, find_corpus_files,
                                read_enas_ptb_pickle, write_enas_ptb_pickle)
from nasrepro.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASREPRO_CACHE", str(tmp_path_factory.getbasetemp() / "nasrepro-cache"))
        yield


def write_corpus(folder, train, valid, test, names=("train.txt", "valid.txt", "test.txt")):
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in zip(names, (train, valid, test)):
        (folder / name).write_text(content)
    return folder


# PTB's own line format: a space before and after the words of each line.
TINY = (" the cat sat \n the dog \n", " a dog sat \n", " the bird \n")


def test_corpus_ids_by_first_appearance_train_valid_test(tmp_path):
    corpus = Corpus(write_corpus(tmp_path, *TINY))
    # the=0 cat=1 sat=2 <eos>=3 dog=4 | a=5 | bird=6
    assert corpus.train.tolist() == [0, 1, 2, 3, 0, 4, 3]
    assert corpus.valid.tolist() == [5, 4, 2, 3]
    assert corpus.test.tolist() == [0, 6, 3]
    assert corpus.dictionary.idx2word == ["the", "cat", "sat", "<eos>", "dog", "a", "bird"]
    assert corpus.train.dtype == np.int64 and len(corpus.dictionary) == 7


def test_blank_lines_and_missing_final_newline(tmp_path):
    # WikiText has blank lines: each still gets an <eos>; a last line without '\n' counts.
    corpus = Corpus(write_corpus(tmp_path, "x\n\n y \ny", "x\n", "y\n"))
    assert corpus.train.tolist() == [0, 1, 1, 2, 1, 2, 1]


@pytest.mark.parametrize("names", text.CORPUS_LAYOUTS)
def test_all_file_layouts_are_found(tmp_path, names):
    write_corpus(tmp_path, *TINY, names=names)
    files = find_corpus_files(tmp_path)
    assert [p.name for p in files.values()] == list(names)
    assert Corpus(tmp_path).valid.tolist() == [5, 4, 2, 3]


def test_missing_incomplete_and_empty_corpus(tmp_path):
    with pytest.raises(DataError, match="corpus folder not found; expected one of: train.txt, "
                                        "valid.txt, test.txt; or ptb.train.txt"):
        Corpus(tmp_path / "nowhere")
    (tmp_path / "ptb.train.txt").write_text(TINY[0])
    (tmp_path / "ptb.test.txt").write_text(TINY[2])
    with pytest.raises(DataError, match=r"incomplete corpus, missing ptb\.valid\.txt$"):
        Corpus(tmp_path)
    write_corpus(tmp_path / "e", " a \n", " \n \n", " a \n")
    with pytest.raises(DataError, match=r"valid\.txt: empty file"):
        Corpus(tmp_path / "e")
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match="no corpus files; expected one of"):
        Corpus(tmp_path / "other")


def test_batchify_is_time_major_for_numpy_and_torch():
    out = batchify(np.arange(11), 3)
    assert out.tolist() == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    tensor = batchify(torch.arange(11), 3)
    assert isinstance(tensor, torch.Tensor) and tensor.is_contiguous()
    assert tensor.tolist() == out.tolist()
    with pytest.raises(ConfigError, match="batch_size=12 must be in 1..11"):
        batchify(np.arange(11), 12)


def test_enas_pickle_sorted_vocab_and_extra_eos(tmp_path):
    folder = write_corpus(tmp_path, " the cat sat \n the dog \n", " the dog sat \n", " cat \n")
    data = build_enas_ptb(folder)
    # Sorted training words: '<eos>' < 'cat' < 'dog' < 'sat' < 'the'.
    assert data.vocab == {"<eos>": 0, "cat": 1, "dog": 2, "sat": 3, "the": 4}
    assert data.index == {0: "<eos>", 1: "cat", 2: "dog", 3: "sat", 4: "the"}
    assert data.x_train.tolist() == [4, 1, 3, 0, 4, 2, 0]
    assert data.x_valid.tolist() == [4, 2, 3, 0]
    assert data.x_test.tolist() == [1, 0]
    assert data.x_train.dtype == np.int32
    path = write_enas_ptb_pickle(data, tmp_path / "ptb.pkl")
    raw = path.read_bytes()
    assert raw[:2] == b"\x80\x02"                      # pickle protocol 2, as the original
    payload = pickle.loads(raw)
    assert isinstance(payload, tuple) and len(payload) == 5
    back = read_enas_ptb_pickle(tmp_path)              # a folder holding ptb.pkl also works
    assert back.vocab == data.vocab and back.index == data.index
    for name in ("x_train", "x_valid", "x_test"):
        np.testing.assert_array_equal(getattr(back, name), getattr(data, name))


def test_enas_pickle_refuses_unknown_words_and_glued_tokens(tmp_path):
    write_corpus(tmp_path / "a", " the cat \n", " the cow \n", " cat \n")
    with pytest.raises(DataError, match=r"valid\.txt: 1 token\(s\) not in the training "
                                        r"vocabulary \(first: 'cow'\)"):
        build_enas_ptb(tmp_path / "a")
    write_corpus(tmp_path / "b", "the cat\nthe dog\n", " a \n", " a \n")
    with pytest.raises(DataError, match=r"line 1 gives the token 'cat<eos>the'"):
        build_enas_ptb(tmp_path / "b")


def test_malformed_enas_pickles(tmp_path):
    def dump(obj):
        (tmp_path / "ptb.pkl").write_bytes(pickle.dumps(obj, protocol=2))

    ids = np.array([0, 1], np.int32)
    dump((ids, ids, ids, {"a": 0, "b": 1}))
    with pytest.raises(DataError, match="expected a 5-tuple.*length 4"):
        read_enas_ptb_pickle(tmp_path / "ptb.pkl")
    dump((ids, np.array([0, 2]), ids, {"a": 0, "b": 1}, {0: "a", 1: "b"}))
    with pytest.raises(DataError, match=r"x_valid\[1\] = 2 is not a vocabulary id \(0\.\.1\)"):
        read_enas_ptb_pickle(tmp_path / "ptb.pkl")
    dump((ids, ids, ids, {"a": 0, "b": 1}, {0: "b", 1: "a"}))
    with pytest.raises(DataError, match="not inverse maps"):
        read_enas_ptb_pickle(tmp_path / "ptb.pkl")
    with pytest.raises(DataError, match="ENAS PTB pickle not found"):
        read_enas_ptb_pickle(tmp_path / "missing.pkl")


def test_embedded_corpora_agree(cache):
    penn = Corpus(embedded_path("penn"))
    assert len(penn.dictionary) == 10000              # PTB's vocabulary size, <eos> included
    assert (len(penn.train), len(penn.valid), len(penn.test)) == (740641, 41246, 40614)
    assert "<unk>" in penn.dictionary.word2idx
    for name in ("ptb", "wikitext-2"):
        other = Corpus(embedded_path(name))
        np.testing.assert_array_equal(other.train, penn.train)
        np.testing.assert_array_equal(other.test, penn.test)
    enas = read_enas_ptb_pickle(embedded_path("ptb-pkl"))
    assert len(enas.vocab) == 10000
    # Same token stream as the Corpus, under a different (sorted) numbering.
    for mine, theirs in ((enas.x_train, penn.train), (enas.x_test, penn.test)):
        assert len(mine) == len(theirs)
        words = np.array(penn.dictionary.idx2word)
        sorted_words = np.array([enas.index[i] for i in range(len(enas.index))])
        assert (sorted_words[mine] == words[theirs]).all()
    assert list(enas.vocab) == sorted(enas.vocab)
