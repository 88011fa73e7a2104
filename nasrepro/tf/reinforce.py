"""REINFORCE with a moving-average baseline for ENAS controllers (melodyguan/enas,
src/cifar10/micro_controller.py, general_controller.py and main.py).

One `step` samples an architecture, scores it with `reward_fn` (the child's accuracy on one
validation minibatch), moves the baseline toward the reward and computes the gradient of
    loss = (sum of -log p of the sampled decisions) * (reward - baseline)
           + skip_weight * skip_penalty + l2_reg * sum(w^2).
Like the original's SyncReplicasOptimizer with one replica, the gradients of `num_aggregate`
consecutive samples are averaged and applied as one Adam step (beta1 = 0, epsilon = 1e-3);
`train_step` counts applied steps. All state is in tf.Variables, so a checkpoint of this module
resumes mid-aggregation exactly. The caller wraps `step` in tf.function."""
import tensorflow as tf

from nasrepro.tf.optimizers import Adam
from nasrepro.tf.training import l2_sum_of_squares


def _dense(grad, variable):
    # Gathers (embedding lookups) give IndexedSlices; TF1 Adam's sparse path still decays every
    # row of its slots, so a dense update is the same thing. Unused variables get zeros.
    if grad is None:
        return tf.zeros_like(variable)
    return tf.convert_to_tensor(grad)


class ReinforceTrainer(tf.Module):
    def __init__(self, controller, learning_rate: float, entropy_weight: float = 0.0,
                 baseline_decay: float = 0.99, num_aggregate: int = 1, skip_weight: float = 0.0,
                 l2_reg: float = 0.0, name="reinforce"):
        super().__init__(name=name)
        if num_aggregate < 1:
            raise ValueError(f"num_aggregate must be >= 1, got {num_aggregate}")
        self.controller = controller
        self.learning_rate = float(learning_rate)  # constant: the original's decay never fires
        self.entropy_weight, self.baseline_decay = float(entropy_weight), float(baseline_decay)
        self.num_aggregate, self.skip_weight, self.l2_reg = (
            int(num_aggregate), float(skip_weight), float(l2_reg))
        self.variables_to_train = list(controller.trainable_variables)
        with self.name_scope:
            self.baseline = tf.Variable(0.0, trainable=False, name="baseline")
            self.train_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="train_step")
            self.num_samples = tf.Variable(0, dtype=tf.int64, trainable=False,
                                           name="num_samples")
            self.accumulators = [
                tf.Variable(tf.zeros_like(v), trainable=False, name=f"grad_sum_{i}")
                for i, v in enumerate(self.variables_to_train)]
            self.optimizer = Adam(self.variables_to_train, beta1=0.0, epsilon=1e-3,
                                  name="controller_adam")

    def step(self, reward_fn, generator: tf.random.Generator) -> dict:
        variables = self.variables_to_train
        with tf.GradientTape() as tape:
            sample = self.controller.sample(generator)
            with tape.stop_recording():  # the child's forward pass needs no gradient record
                acc = tf.stop_gradient(tf.cast(reward_fn(sample["arc"]), tf.float32))
            reward = acc + self.entropy_weight * sample["entropy"]
            # Baseline first, then the loss reads the updated value (as the original's
            # control dependency intends).
            self.baseline.assign_sub((1.0 - self.baseline_decay) * (self.baseline - reward))
            loss = sample["log_prob"] * (reward - self.baseline.read_value())
            if self.skip_weight and "skip_penalty" in sample:
                loss += self.skip_weight * sample["skip_penalty"]
            if self.l2_reg:
                loss += self.l2_reg * l2_sum_of_squares(variables)
        grads = [_dense(g, v) for g, v in zip(tape.gradient(loss, variables), variables)]
        grad_norm = tf.linalg.global_norm(grads)

        if self.num_aggregate == 1:
            self.optimizer.apply(grads, self.learning_rate)
            self.train_step.assign_add(1)
            self.num_samples.assign_add(1)
        else:
            for acc_var, grad in zip(self.accumulators, grads):
                acc_var.assign_add(grad)
            count = self.num_samples.assign_add(1)
            tf.cond(tf.equal(count % self.num_aggregate, 0), self._apply_average,
                    lambda: tf.constant(False))

        out = dict(loss=loss, entropy=sample["entropy"], acc=acc, reward=reward,
                   baseline=self.baseline.read_value(), grad_norm=grad_norm, arc=sample["arc"],
                   log_prob=sample["log_prob"], train_step=self.train_step.read_value())
        if "skip_rate" in sample:
            out["skip_rate"] = sample["skip_rate"]
            out["skip_count"] = sample["skip_count"]
        return out

    def _apply_average(self):
        self.optimizer.apply([a / float(self.num_aggregate) for a in self.accumulators],
                             self.learning_rate)
        for acc_var in self.accumulators:
            acc_var.assign(tf.zeros_like(acc_var))
        self.train_step.assign_add(1)
        return tf.constant(True)
