"""Dataset readers and the embedded default datasets.

Nothing imported here loads torch or TensorFlow. PyTorch users also import
`nasrepro.data.torch_datasets` (Dataset, CIFAR transforms, Cutout, splits) and call the
torchvision parts of `nasrepro.data.imagenet`."""
from .cifar import (CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD, CifarData,
                    channel_stats, find_cifar_dir, normalize, read_binary_batch, read_cifar,
                    read_pickle_batch, split_last, write_binary_batch, write_pickle_batch)
from .embedded_data import EMBEDDED_NAMES, embedded_path
from .fingerprint import dataset_fingerprint
from .imagenet import check_imagenet_layout
from .locate import check_layout, resolve_data_path
from .text import (Corpus, EnasPtb, batchify, build_enas_ptb, find_corpus_files,
                   read_enas_ptb_pickle, write_enas_ptb_pickle)

__all__ = [
    "CIFAR10_MEAN", "CIFAR10_STD", "IMAGENET_MEAN", "IMAGENET_STD", "CifarData",
    "channel_stats", "find_cifar_dir", "normalize", "read_binary_batch", "read_cifar",
    "read_pickle_batch", "split_last", "write_binary_batch", "write_pickle_batch",
    "EMBEDDED_NAMES", "embedded_path", "dataset_fingerprint", "check_imagenet_layout",
    "check_layout", "resolve_data_path", "Corpus", "EnasPtb", "batchify", "build_enas_ptb",
    "find_corpus_files", "read_enas_ptb_pickle", "write_enas_ptb_pickle",
]
