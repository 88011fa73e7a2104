"""tf.data input pipelines of the TF CIFAR codes (ENAS, NAO-WS, NAO), replacing TF1 queue runners.

Training images are zero-padded by 4 pixels (zero is the mean after normalization), randomly
cropped back to 32x32 and flipped, then optionally cut out: a square of side `cutout_size`
whose top-left corner is uniform over the image, clipped at the border, set to 0 in all
channels. Every random draw is stateless, keyed by (seed, epoch, image index), so an epoch's
batches are the same whether the run was interrupted before it or not.

NAO/cnn (train_cifar.py) differs in two ways, both options here: its raw pixels are padded,
cropped and flipped, then standardized per image (`standardize`, tf.image.
per_image_standardization) before the cutout; and its batches come from an endless stream of
shuffled passes over the data (a dataset repeated, then batched), so every batch is full and
batches straddle the passes (`stream_batches`)."""
import numpy as np
import tensorflow as tf

PAD = 4


def _augment(image, seed, cutout_size, standardize: bool = False):
    height, width = image.shape[0], image.shape[1]
    padded = tf.pad(image, [[PAD, PAD], [PAD, PAD], [0, 0]])
    image = tf.image.stateless_random_crop(padded, image.shape, seed=seed)
    image = tf.image.stateless_random_flip_left_right(image, seed=seed + [0, 1])
    if standardize:
        image = tf.image.per_image_standardization(image)
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


def eval_batches(images: np.ndarray, labels: np.ndarray, batch_size: int,
                 standardize: bool = False) -> tf.data.Dataset:
    """Batches in file order, no augmentation (standardized per image with `standardize`)."""
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    if standardize:
        ds = ds.map(lambda x, y: (tf.image.per_image_standardization(tf.cast(x, tf.float32)), y))
    return ds.batch(batch_size).prefetch(2)


def stream_indices(count: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Positions in the stream and image indices [2, batch_size] of batch `step` of the endless
    stream of shuffled passes: pass p is permutation (seed, p) of range(count)."""
    positions = np.arange(step * batch_size, (step + 1) * batch_size, dtype=np.int64)
    passes, offsets = np.divmod(positions, count)
    indices = np.empty_like(positions)
    for p in np.unique(passes):
        order = np.random.default_rng([int(seed), int(p)]).permutation(count)
        indices[passes == p] = order[offsets[passes == p]]
    return np.stack([positions, indices])


def stream_batches(images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int,
                   first_step: int, cutout_size=None, standardize: bool = False
                   ) -> tf.data.Dataset:
    """The full batches first_step, first_step + 1, ... of the stream (stream_indices), each
    image augmented with draws keyed by (seed, its stream position): a run resumed at any step
    reads the same batches as an uninterrupted one."""
    images_t = tf.constant(images)
    labels_t = tf.constant(labels.astype(np.int32))

    def steps():
        step = first_step
        while True:
            yield stream_indices(len(images), batch_size, seed, step).T  # [batch, 2]
            step += 1

    def load(pair):
        position, index = pair[0], pair[1]
        seed_pair = tf.stack([tf.constant(int(seed) % (2 ** 31), tf.int64), position * 3])
        image = tf.cast(tf.gather(images_t, index), tf.float32)
        return _augment(image, seed_pair, cutout_size, standardize), tf.gather(labels_t, index)

    ds = tf.data.Dataset.from_generator(
        steps, output_signature=tf.TensorSpec([batch_size, 2], tf.int64))
    ds = ds.unbatch().map(lambda p: load(p), num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    return ds.batch(batch_size).prefetch(2)


def num_batches(count: int, batch_size: int) -> int:
    return (count + batch_size - 1) // batch_size
