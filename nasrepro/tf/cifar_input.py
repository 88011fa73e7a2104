"""tf.data input pipelines of the TF CIFAR codes (ENAS, NAO-WS), replacing TF1 queue runners.

Training images are zero-padded by 4 pixels (zero is the mean after normalization), randomly
cropped back to 32x32 and flipped, then optionally cut out: a square of side `cutout_size`
whose top-left corner is uniform over the image, clipped at the border, set to 0 in all
channels. Every random draw is stateless, keyed by (seed, epoch, image index), so an epoch's
batches are the same whether the run was interrupted before it or not."""
import numpy as np
import tensorflow as tf

PAD = 4


def _augment(image, seed, cutout_size):
    height, width = image.shape[0], image.shape[1]
    padded = tf.pad(image, [[PAD, PAD], [PAD, PAD], [0, 0]])
    image = tf.image.stateless_random_crop(padded, image.shape, seed=seed)
    image = tf.image.stateless_random_flip_left_right(image, seed=seed + [0, 1])
    if cutout_size:
        corner = tf.random.stateless_uniform([2], seed=seed + [0, 2], minval=0,
                                             maxval=height, dtype=tf.int32)
        rows = tf.range(height)[:, None]
        cols = tf.range(width)[None, :]
        inside = ((rows >= corner[0]) & (rows < corner[0] + cutout_size)
                  & (cols >= corner[1]) & (cols < corner[1] + cutout_size))
        image = image * tf.cast(~inside, image.dtype)[:, :, None]
    return image


def train_batches(images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int,
                  epoch: int, cutout_size=None) -> tf.data.Dataset:
    """One epoch of shuffled, augmented batches (the last one may be smaller)."""
    order = np.random.default_rng([int(seed), int(epoch)]).permutation(len(images))
    images_t = tf.constant(images)
    labels_t = tf.constant(labels.astype(np.int32))
    base = tf.constant([int(seed) % (2 ** 31), int(epoch) * len(images)], tf.int64)

    def load(index):
        seed_pair = base + tf.stack([tf.constant(0, tf.int64), index * 3])
        image = _augment(tf.gather(images_t, index), seed_pair, cutout_size)
        return image, tf.gather(labels_t, index)

    ds = tf.data.Dataset.from_tensor_slices(order.astype(np.int64))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(2)


def eval_batches(images: np.ndarray, labels: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Batches in file order, no augmentation."""
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    return ds.batch(batch_size).prefetch(2)


def num_batches(count: int, batch_size: int) -> int:
    return (count + batch_size - 1) // batch_size
