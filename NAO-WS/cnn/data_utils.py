"""CIFAR-10 for NAO-WS (renqianluo/NAO NAO-WS/cnn/data_utils.py): the python-pickle batches
read by the library (nasrepro.data.cifar.read_normalized): the last `num_valids` training images
held out for validation, every split normalized with the remaining training images' per-channel
mean and std. --num_train_images (new) then keeps the first N training images."""
from nasrepro.data.cifar import read_normalized
from nasrepro.data.locate import resolve_data_path
from nasrepro.environment import current_profile
from nasrepro.errors import ConfigError


def read_data(args, num_valids: int, log):
    """(images, labels, data folder) for the flags `args`; dicts over train / valid / test."""
    data_path = resolve_data_path(args.data_path or None, "cifar10", current_profile(),
                                  "--data_path")
    images, labels, data_dir = read_normalized(data_path, "cifar10", num_valids, log)
    if args.num_train_images is not None:
        if not 0 < args.num_train_images <= len(labels["train"]):
            raise ConfigError(f"--num_train_images={args.num_train_images}: expected 1.."
                              f"{len(labels['train'])} (the training images left after the "
                              f"{num_valids} held out for validation)")
        images["train"] = images["train"][:args.num_train_images]
        labels["train"] = labels["train"][:args.num_train_images]
    return images, labels, data_dir
