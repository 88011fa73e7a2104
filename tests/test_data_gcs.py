"""GCSImageFolder against a real GCS emulator (gcp-storage-emulator) on a loopback port."""
import io
import itertools
import logging
import os
import pickle
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
import torch
from google.api_core.exceptions import ServiceUnavailable
from google.cloud.storage.blob import Blob
from PIL import Image
from torchvision import transforms

from nasrepro.data import gcs_images
from nasrepro.data.gcs_images import (DEFAULT_PREFIX, GCSImageFolder, default_client,
                                      index_objects)
from nasrepro.errors import DataError

BUCKET = "imagenet-test"
# Uploaded in this order on purpose: first-appearance order would number n02 first.
CLASSES_IN_UPLOAD_ORDER = ("n02", "n01", "n10")
PER_SPLIT = {"train": 3, "validation": 2}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(proc, url, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gcp_storage_emulator exited with {proc.returncode}: "
                               f"{proc.stderr.read().decode(errors='replace')}")
        try:
            if requests.get(f"{url}/storage/v1/b?project=test", timeout=1).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"gcp_storage_emulator did not answer at {url} within {timeout_s} s")


def pixels(class_name, i) -> np.ndarray:
    """The RGB pixels of image i of a class: distinct per image, so a mix-up shows."""
    seed = sum(map(ord, class_name)) * 100 + i
    return np.random.default_rng(seed).integers(0, 256, (5, 7, 3), dtype=np.uint8)


def png_bytes(class_name, i) -> bytes:
    image = Image.fromarray(pixels(class_name, i))
    # One class stored as RGBA: the reader must still hand back RGB with the same colours.
    if class_name == "n10":
        image = image.convert("RGBA")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def object_name(split, class_name, i, prefix=DEFAULT_PREFIX):
    return f"{prefix}/{split}/{class_name}/img_{i}.png"


def upload_tree(bucket, prefix=DEFAULT_PREFIX):
    for split, count in PER_SPLIT.items():
        for class_name in CLASSES_IN_UPLOAD_ORDER:
            for i in range(count):
                bucket.blob(object_name(split, class_name, i, prefix)).upload_from_string(
                    png_bytes(class_name, i), content_type="image/png")
    # What the console's "create folder" leaves, and a file that is not an image.
    bucket.blob(f"{prefix}/train/n01/").upload_from_string(b"")
    bucket.blob(f"{prefix}/train/n01/LICENSE.txt").upload_from_string(b"not an image")


@pytest.fixture(scope="module")
def emulator():
    """A storage client talking to a fresh in-memory emulator, STORAGE_EMULATOR_HOST set."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gcp_storage_emulator", "start", "--host=127.0.0.1",
         f"--port={port}", "--in-memory", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_up(proc, url)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("STORAGE_EMULATOR_HOST", url)
            client = default_client()
            upload_tree(client.create_bucket(BUCKET))
            yield client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


_bucket_ids = itertools.count()


@pytest.fixture
def scratch(emulator):
    """A bucket of its own (the tree above) for a test that deletes or adds objects."""
    bucket = emulator.create_bucket(f"scratch-{next(_bucket_ids)}")
    upload_tree(bucket)
    return bucket


@pytest.fixture
def no_sleep(monkeypatch):
    """Records the backoff waits instead of sleeping them."""
    waits = []
    monkeypatch.setattr(gcs_images.time, "sleep", waits.append)
    return waits


def flaky_downloads(monkeypatch, failures, error=ServiceUnavailable("emulated 503")):
    """Blob.download_as_bytes raises `error` for the first `failures` calls, then downloads."""
    calls = []
    real = Blob.download_as_bytes

    def download(self, *args, **kwargs):
        calls.append(self.name)
        if len(calls) <= failures:
            raise error
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Blob, "download_as_bytes", download)
    return calls


def expected_samples(split):
    classes = sorted(CLASSES_IN_UPLOAD_ORDER)
    return sorted((object_name(split, c, i), classes.index(c))
                  for c in classes for i in range(PER_SPLIT[split]))


# -- listing

def test_lists_images_with_sorted_class_ids(emulator, caplog):
    with caplog.at_level(logging.INFO, logger="nasrepro.data.gcs_images"):
        train = GCSImageFolder(BUCKET, "train")
    assert "There are 9 records in dataset." in caplog.messages
    assert train.classes == ["n01", "n02", "n10"]
    assert train.class_to_idx == {"n01": 0, "n02": 1, "n10": 2}
    # The placeholder "n01/" and LICENSE.txt are not samples.
    assert train.samples == expected_samples("train")
    assert train.targets == [label for _, label in expected_samples("train")]
    assert len(train) == 9
    valid = GCSImageFolder(BUCKET, "validation")
    assert valid.samples == expected_samples("validation") and valid.classes == train.classes


def test_class_ids_do_not_depend_on_listing_order():
    names = ["p/train/n10/a.jpg", "p/train/n02/b.JPEG", "p/train/n02/", "p/train/n01/c.png",
             "p/train/n01/notes.txt", "p/train/n01/album.png/", "p/train/loose.png"]
    for order in (names, names[::-1]):
        classes, samples = index_objects(order, "p/train/")
        assert classes == ["n01", "n02", "n10"]
        # Placeholders (even one named like an image), non-images and objects outside a
        # class folder are left out.
        assert samples == [("p/train/n01/c.png", 0), ("p/train/n02/b.JPEG", 1),
                           ("p/train/n10/a.jpg", 2)]


# -- reading

def test_streamed_items_are_the_uploaded_pixels(emulator):
    ds = GCSImageFolder(BUCKET, "train")
    for index, (name, label) in enumerate(ds.samples):
        image, got_label = ds[index]
        class_name, i = name.split("/")[-2], int(name[-5])
        assert got_label == label == ds.classes.index(class_name)
        assert image.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(image), pixels(class_name, i))


def test_transform_is_applied(emulator):
    ds = GCSImageFolder(BUCKET, "validation", transform=transforms.ToTensor())
    x, y = ds[len(ds) - 1]
    name = ds.samples[-1][0]
    assert isinstance(x, torch.Tensor) and x.shape == (3, 5, 7) and y == 2
    expected = torch.from_numpy(pixels("n10", int(name[-5]))).permute(2, 0, 1) / 255
    torch.testing.assert_close(x, expected)


def test_cached_mode_reads_its_copy_after_the_object_is_gone(scratch, tmp_path):
    ds = GCSImageFolder(scratch.name, "train", streaming=False, download_dir=tmp_path)
    name, _ = ds.samples[0]
    first, _ = ds[0]
    cached = tmp_path / name
    assert cached.read_bytes() == png_bytes("n01", 0)
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".")]  # no temp files
    scratch.blob(name).delete()
    again, _ = ds[0]
    np.testing.assert_array_equal(np.asarray(again), np.asarray(first))


def test_cache_write_that_dies_leaves_no_file(scratch, tmp_path, monkeypatch):
    # The rename is the last step of an atomic write; failing it stands for a killed run.
    def crash(*args):
        raise OSError("emulated crash before rename")
    ds = GCSImageFolder(scratch.name, "train", streaming=False, download_dir=tmp_path)
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(DataError, match="cannot cache gs://scratch-.*/img_0.png"):
        ds[0]
    folder = tmp_path / ds.samples[0][0].rsplit("/", 1)[0]
    assert not folder.exists() or list(folder.iterdir()) == []


# -- errors

def test_missing_bucket(emulator):
    with pytest.raises(DataError, match="gs://no-such-bucket: bucket not found"):
        GCSImageFolder("no-such-bucket", "train")


def test_empty_prefix_names_the_place_and_the_layout(emulator):
    with pytest.raises(DataError) as err:
        GCSImageFolder(BUCKET, "train", prefix="nothing/here")
    assert f"gs://{BUCKET}/nothing/here/train/: no image objects" in str(err.value)
    assert "gs://<bucket>/<prefix>/{train,validation}/<class>/<image>" in str(err.value)


def test_only_train_and_validation_splits(emulator):
    with pytest.raises(DataError, match="split='val': expected one of train, validation"):
        GCSImageFolder(BUCKET, "val")


def test_object_deleted_after_listing_is_named_and_not_retried(scratch, no_sleep):
    ds = GCSImageFolder(scratch.name, "train")
    name, _ = ds.samples[4]
    scratch.blob(name).delete()
    with pytest.raises(DataError, match=f"gs://{scratch.name}/{name}: object not found"):
        ds[4]
    assert no_sleep == []


def test_object_that_is_not_an_image(scratch):
    name = f"{DEFAULT_PREFIX}/train/n01/broken.jpeg"
    scratch.blob(name).upload_from_string(b"these bytes are no JPEG")
    ds = GCSImageFolder(scratch.name, "train")
    with pytest.raises(DataError, match=f"gs://{scratch.name}/{name}: not a readable image"):
        ds[ds.samples.index((name, 0))]


def test_cached_mode_needs_download_dir(emulator):
    with pytest.raises(DataError, match="data.data_download_dir is not set"):
        GCSImageFolder(BUCKET, "train", streaming=False)


def test_missing_credentials_say_how_to_authenticate(monkeypatch, tmp_path):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    with pytest.raises(DataError) as err:
        GCSImageFolder(BUCKET, "train")
    message = str(err.value)
    assert "gcloud auth application-default login" in message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message and "--data" in message


# -- transient failures

@pytest.mark.parametrize("error", [ServiceUnavailable("emulated 503"),
                                   requests.exceptions.ConnectionError("emulated reset")],
                         ids=["503", "connection"])
def test_transient_failures_are_retried_with_backoff(emulator, monkeypatch, no_sleep, error):
    ds = GCSImageFolder(BUCKET, "train", backoff_s=0.01)
    calls = flaky_downloads(monkeypatch, failures=2, error=error)
    image, label = ds[0]
    assert len(calls) == 3 and no_sleep == [0.01, 0.02]
    np.testing.assert_array_equal(np.asarray(image), pixels("n01", 0))
    assert label == 0


def test_gives_up_after_retries_attempts(emulator, monkeypatch, no_sleep):
    ds = GCSImageFolder(BUCKET, "train", retries=3, backoff_s=0.01)
    calls = flaky_downloads(monkeypatch, failures=10)
    name = ds.samples[1][0]
    with pytest.raises(DataError, match=f"gs://{BUCKET}/{name}: still failing after 3 attempts"):
        ds[1]
    assert len(calls) == 3 and no_sleep == [0.01, 0.02]


# -- worker processes

def test_pickles_without_its_client_and_reads_after(emulator):
    ds = GCSImageFolder(BUCKET, "train")
    ds[0]                                   # makes this process's client
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._bucket is None and clone.samples == ds.samples
    np.testing.assert_array_equal(np.asarray(clone[3][0]), np.asarray(ds[3][0]))
    assert clone._bucket is not None and clone._bucket is not ds._bucket


def client_marked_with_pid():
    """A client that remembers which process made it."""
    client = default_client()
    client.made_in_pid = os.getpid()
    return client


class ReportsClientPid(GCSImageFolder):
    """Items also carry the pid that made the client used and the pid that read them."""

    def __getitem__(self, index):
        image, label = super().__getitem__(index)
        return image, label, self.bucket().client.made_in_pid, os.getpid()


def test_dataloader_workers_return_every_sample_once(emulator):
    ds = ReportsClientPid(BUCKET, "train", transform=transforms.PILToTensor(),
                          client_factory=client_marked_with_pid)
    ds[0]                                   # the parent's client must not leak into workers
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    items = list(loader)
    assert len(items) == len(ds)
    for (x, y, made_in, read_in), (name, label) in zip(items, ds.samples):
        assert y == label
        expected = pixels(name.split("/")[-2], int(name[-5]))
        np.testing.assert_array_equal(x.permute(1, 2, 0).numpy(), expected)
        # Forked workers inherit the parent's client; each must make its own.
        assert made_in == read_in != os.getpid()
    assert len({read_in for *_, read_in in items}) == 2


def test_gaea_trial_data_reads_the_bucket_in_both_modes(emulator, paper_module, tmp_path):
    # GAEA-ImageNet/data.py picks the bucket when data.bucket_name is set (its first choice).
    data = paper_module("GAEA-ImageNet", "data")
    config = {"bucket_name": BUCKET, "local_dir": "/ignored", "streaming": False,
              "data_download_dir": str(tmp_path)}
    assert data.data_source(config) == "gcs"
    valid = data.ImageNetDataset("validation", config)
    image, label = valid[0]
    name, expected_label = expected_samples("validation")[0]
    assert label == expected_label and (tmp_path / name).is_file()
    streamed = data.ImageNetDataset("validation", {**config, "streaming": True})
    assert np.array_equal(np.asarray(streamed[0][0]), np.asarray(image))
