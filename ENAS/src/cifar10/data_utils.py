"""CIFAR-10/100 for ENAS: the python-pickle batches, the last `num_valids` training images as the
validation set, per-channel normalization with the training split's statistics
(nasrepro.data.cifar.read_normalized, shared with NAO-WS)."""
from nasrepro.data import cifar

DATASET_NAMES = {"CIFAR10": "cifar10", "CIFAR100": "cifar100"}


def read_data(data_path, dataset="CIFAR10", num_valids=5000, log=print):
    """(images, labels, folder): dicts with keys train, valid (None when num_valids is 0),
    test; images are float32 NHWC, normalized; labels int32."""
    return cifar.read_normalized(data_path, DATASET_NAMES[dataset], num_valids, log)
