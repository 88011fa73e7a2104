"""ImageNet-style images read straight from a Google Cloud Storage bucket.

Reproduces what Determined AI's GAEA ImageNet example read its data with
(determined-ai/determined, examples/experimental/imagenet_nas_arch_pytorch/data.py, commit
208ee11c52, 2020-05-14): the objects under `gs://<bucket>/imagenet/imagenet/<split>/` with split
`train` or `validation`, each object's class the name of its parent "folder", and per item either
a fresh download (streaming) or a copy cached on local disk on first access.

Beyond the original: class ids come from sorting, the client is made per process (DataLoader
workers), transient failures are retried with backoff, cache writes are atomic, and every failure
is a DataError naming the bucket, object or config key at fault."""
from __future__ import annotations

import io
import logging
import os
import time
from pathlib import Path
from typing import Callable, Optional

import torch.utils.data

from ..atomic import atomic_write_bytes
from ..errors import ConfigError, DataError
from .imagenet import IMAGE_EXTENSIONS

DEFAULT_PREFIX = "imagenet/imagenet"
SPLITS = ("train", "validation")
LAYOUT_HELP = "gs://<bucket>/<prefix>/{train,validation}/<class>/<image>"
AUTH_HELP = ("authenticate with `gcloud auth application-default login` or point "
             "GOOGLE_APPLICATION_CREDENTIALS at a service-account key file, or read a local "
             "ImageNet folder instead (--data)")
# The project the emulator's anonymous client reports; an emulator accepts any.
EMULATOR_PROJECT = "test"

logger = logging.getLogger(__name__)


def default_client():
    """A google.cloud.storage.Client: anonymous against STORAGE_EMULATOR_HOST, else ADC."""
    from google.cloud import storage
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        # The library points itself at the emulator; it still needs some credentials and a
        # project, and an emulator accepts anything.
        from google.auth.credentials import AnonymousCredentials
        return storage.Client(credentials=AnonymousCredentials(), project=EMULATOR_PROJECT)
    from google.auth.exceptions import DefaultCredentialsError
    try:
        return storage.Client()
    except DefaultCredentialsError as err:
        raise DataError(f"Google Cloud Storage: no usable credentials ({err}); {AUTH_HELP}") \
            from None


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors worth another attempt: HTTP 429, 500, 502, 503, 504 (what GCS's retry guidance
    lists, less 408, which google-api-core has no class for) and dropped connections.
    NotFound and Forbidden are not among them: they do not heal by waiting."""
    import requests
    from google.api_core import exceptions as api
    from google.auth.exceptions import TransportError
    return (api.ServiceUnavailable, api.TooManyRequests, api.InternalServerError,
            api.GatewayTimeout, api.BadGateway, requests.exceptions.ConnectionError,
            requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError,
            TransportError, ConnectionError, TimeoutError)


def index_objects(names, split_prefix: str) -> tuple[list[str], list[tuple[str, int]]]:
    """(classes, samples) of the image objects under `split_prefix` (which ends in "/")."""
    by_class = []
    for name in names:
        rest = name[len(split_prefix):]
        # Placeholders ("folder/", which the extension test alone would also drop) and
        # non-images are not samples; nor are objects directly in the split folder, which
        # have no class folder.
        if name.endswith("/") or not name.lower().endswith(IMAGE_EXTENSIONS) or "/" not in rest:
            continue
        by_class.append((name, name.rsplit("/", 2)[-2]))
    # The original numbered classes in order of first appearance in GCS's lexicographic
    # listing; sorting the names gives the same ids for ImageNet's fixed-width synsets
    # (n01440764, ...) and does not depend on the listing order.
    classes = sorted({c for _, c in by_class})
    class_to_idx = {c: i for i, c in enumerate(classes)}
    samples = sorted((name, class_to_idx[c]) for name, c in by_class)
    return classes, samples


class GCSImageFolder(torch.utils.data.Dataset):
    """Images under gs://<bucket_name>/<prefix>/<split>/<class>/; items are (image, label).

    streaming=True downloads an object on every access; streaming=False keeps a copy at
    `<download_dir>/<object name>` on first access and reads that afterwards. `client_factory`
    (no arguments, returns a storage.Client; default `default_client`) is called once per
    process, so it must be picklable for spawned DataLoader workers."""

    def __init__(self, bucket_name: str, split: str, prefix: str = DEFAULT_PREFIX,
                 streaming: bool = True, download_dir=None, transform=None, retries: int = 5,
                 backoff_s: float = 0.5, client_factory: Optional[Callable] = None):
        if split not in SPLITS:
            raise DataError(f"split={split!r}: expected one of {', '.join(SPLITS)} "
                            f"(the folder names in {LAYOUT_HELP})")
        if not streaming and not download_dir:
            raise DataError("data.data_download_dir is not set: non-streaming GCS reads cache "
                            "each image under it; set it, or stream the images instead")
        if retries < 1:
            raise ConfigError(f"GCSImageFolder retries={retries!r}: expected at least 1")
        self.bucket_name = bucket_name
        self.split = split
        self.prefix = prefix.strip("/")
        self.split_prefix = f"{self.prefix}/{split}/" if self.prefix else f"{split}/"
        self.streaming = streaming
        self.download_dir = Path(download_dir) if download_dir else None
        self.transform = transform
        self.retries = retries
        self.backoff_s = backoff_s
        self.client_factory = client_factory
        self._bucket = None
        self._bucket_pid = None

        self.classes, self.samples = index_objects(self._list_names(), self.split_prefix)
        if not self.samples:
            raise DataError(f"gs://{bucket_name}/{self.split_prefix}: no image objects "
                            f"(extensions {', '.join(IMAGE_EXTENSIONS)}); expected {LAYOUT_HELP}")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.targets = [label for _, label in self.samples]
        logger.info("There are %d records in dataset.", len(self.samples))

    # -- pickling: storage.Client refuses to pickle (and holds sockets), so each process
    # makes its own.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_bucket"] = None
        state["_bucket_pid"] = None
        return state

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        name, label = self.samples[index]
        image = self._decode(self._read(name), name)
        if self.transform is not None:
            image = self.transform(image)
        return image, label

    def url(self, name: str = "") -> str:
        """gs://bucket/name, or gs://bucket without a name."""
        return f"gs://{self.bucket_name}/{name}" if name else f"gs://{self.bucket_name}"

    # -- storage access
    def bucket(self):
        """This process's Bucket handle; a forked worker (same object, new pid) makes its own."""
        if self._bucket is None or self._bucket_pid != os.getpid():
            client = (self.client_factory or default_client)()
            self._bucket = client.bucket(self.bucket_name)
            self._bucket_pid = os.getpid()
        return self._bucket

    def _list_names(self) -> list[str]:
        # One page per call so a transient failure repeats one page, not the whole listing
        # (ImageNet's train split is ~1,300 pages).
        names, token = [], None
        while True:
            page, token = self._call(lambda: self._list_page(token), self.url(self.split_prefix))
            names.extend(page)
            if not token:
                return names

    def _list_page(self, token):
        from google.api_core.exceptions import Forbidden, NotFound
        # retry=None: the library's own retry would wait up to 120 s inside each of ours.
        blobs = self.bucket().list_blobs(prefix=self.split_prefix, page_token=token, retry=None)
        try:
            page = next(blobs.pages)
        except StopIteration:
            return [], None
        except NotFound:
            raise DataError(f"{self.url()}: bucket not found; expected {LAYOUT_HELP}") from None
        except Forbidden as err:
            raise DataError(f"{self.url(self.split_prefix)}: listing not permitted ({err}); "
                            f"{AUTH_HELP}") from None
        return [blob.name for blob in page], blobs.next_page_token

    def _download(self, name: str) -> bytes:
        from google.api_core.exceptions import Forbidden, NotFound
        blob = self.bucket().blob(name)
        try:
            return self._call(lambda: blob.download_as_bytes(retry=None), self.url(name))
        except NotFound:
            raise DataError(f"{self.url(name)}: object not found at read time (it was listed "
                            "when the dataset was built: deleted or renamed since?)") from None
        except Forbidden as err:
            raise DataError(f"{self.url(name)}: reading not permitted ({err}); {AUTH_HELP}") \
                from None

    def _call(self, fn: Callable, what: str):
        """fn(), repeated on transient errors with waits of backoff_s * 2**attempt."""
        transient = transient_errors()
        for attempt in range(self.retries):
            try:
                return fn()
            except transient as err:
                last = err
                if attempt + 1 < self.retries:
                    time.sleep(self.backoff_s * 2 ** attempt)
        raise DataError(f"{what}: still failing after {self.retries} attempts "
                        f"({type(last).__name__}: {last})")

    # -- items
    def _read(self, name: str) -> bytes:
        if self.streaming:
            return self._download(name)
        path = self.cache_path(name)
        if path.is_file():
            return path.read_bytes()
        data = self._download(name)
        try:
            # Atomic: a run killed mid-write leaves no truncated image to be read next time.
            atomic_write_bytes(path, data)
        except OSError as err:
            raise DataError(f"{path}: cannot cache {self.url(name)} ({err}); "
                            "check data.data_download_dir") from None
        return data

    def cache_path(self, name: str) -> Path:
        """`<download_dir>/<object name>`; names that would leave download_dir are refused."""
        parts = name.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise DataError(f"{self.url(name)}: object name cannot be a file path under "
                            f"data.data_download_dir={self.download_dir} (empty, '.' or '..' "
                            "component); use streaming")
        return self.download_dir.joinpath(*parts)

    def _decode(self, data: bytes, name: str):
        from PIL import Image
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.convert("RGB")
        except OSError as err:  # UnidentifiedImageError and truncated files are OSErrors
            raise DataError(f"{self.url(name)}: not a readable image ({err}); expected image "
                            f"bytes matching its extension") from None
