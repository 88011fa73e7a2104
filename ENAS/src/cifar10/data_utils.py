"""CIFAR-10/100 for ENAS: the python-pickle batches, the last `num_valids` training images as the
validation set, per-channel normalization with the training split's statistics."""
import numpy as np

from nasrepro.data import cifar

DATASET_NAMES = {"CIFAR10": "cifar10", "CIFAR100": "cifar100"}


def read_data(data_path, dataset="CIFAR10", num_valids=5000, log=print):
    """(images, labels): dicts with keys train, valid (None when num_valids is 0), test; images
    are float32 NHWC, normalized; labels int32."""
    log("-" * 80)
    log("Reading data")
    data = cifar.read_cifar(data_path, DATASET_NAMES[dataset], "pickle", num_valids)
    for name in cifar.expected_files(DATASET_NAMES[dataset], "pickle").values():
        for file_name in name:
            log(str(data.directory / file_name))
    log("Prepropcess: [subtract mean], [divide std]")
    mean, std = cifar.channel_stats(data.images["train"])
    log("mean: {}".format(mean * 255.0))
    log("std: {}".format(std * 255.0))
    images, labels = {}, {}
    for split in ("train", "valid", "test"):
        if data.images.get(split) is None:
            images[split], labels[split] = None, None
            continue
        images[split] = cifar.normalize(data.images[split], mean, std)
        labels[split] = data.labels[split].astype(np.int32)
    return images, labels, data.directory
