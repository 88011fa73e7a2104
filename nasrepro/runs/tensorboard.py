"""TensorBoard scalars from either framework.

Backends: "torch" (torch.utils.tensorboard, needs the `tensorboard` package) and "tf"
(tf.summary's low-level writer, which works without the `tensorboard` package). By default
a TensorFlow script (tensorflow already imported) uses "tf", anything else "torch" when
`tensorboard` is installed, else "tf" when TensorFlow is installed."""
import importlib.util
import sys
from pathlib import Path
from typing import Optional

from ..errors import ConfigError

BACKENDS = ("torch", "tf")


def choose_backend() -> str:
    """The backend ScalarWriter uses when none is asked for."""
    if "tensorflow" in sys.modules:
        return "tf"
    if importlib.util.find_spec("tensorboard") and importlib.util.find_spec("torch"):
        return "torch"
    if importlib.util.find_spec("tensorflow"):
        return "tf"
    raise ConfigError("cannot write TensorBoard events: install `tensorboard` (with torch) "
                      "or `tensorflow`")


class ScalarWriter:
    """Writes scalar summaries as TensorBoard event files into `log_dir`."""

    def __init__(self, log_dir, backend: Optional[str] = None):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.backend = backend or choose_backend()
        if self.backend == "torch":
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        elif self.backend == "tf":
            import tensorflow as tf
            from tensorflow.core.framework import summary_pb2

            self._tf = tf
            self._writer = tf.summary.create_file_writer(str(self.log_dir))
            # Marks the tensors as scalars, as tf.summary.scalar does, so TensorBoard plots them.
            self._metadata = summary_pb2.SummaryMetadata(
                plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
            ).SerializeToString()
        else:
            raise ConfigError(f"TensorBoard backend {backend!r} is not one of {BACKENDS}")

    def scalar(self, tag: str, value: float, step: int) -> None:
        """Record `value` under `tag` at `step`."""
        if hasattr(value, "item"):
            value = value.item()
        if self.backend == "torch":
            self._writer.add_scalar(tag, float(value), global_step=int(step))
        else:
            tf = self._tf
            with self._writer.as_default():
                tf.summary.write(tag, tf.constant(float(value), dtype=tf.float32),
                                 step=int(step), metadata=self._metadata)

    def flush(self) -> None:
        """Push pending events to disk."""
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
