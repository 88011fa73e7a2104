"""ImageNetTrial: the example's trial (entrypoint model_def:ImageNetTrial), training the GAEA
architecture on ImageNet with the PC-DARTS routine plus swish and squeeze-and-excite
(determined-ai/determined 208ee11c52, examples/experimental/imagenet_nas_arch_pytorch/
model_def.py; GAEA: Li, Khodak, Balcan, Talwalkar, ICLR 2021).

- Network: DARTS' NetworkImageNet from the GAEA genotype, `activation` (relu, swish, hswish)
  everywhere but the factorized reduce, SE after cells when `do_SE`, default PyTorch init.
- Loss: cross entropy with label smoothing (`label_smoothing_rate`), for training and validation;
  plus `auxiliary_weight` times the aux head's loss when `auxiliary`.
- SGD (learning_rate, momentum, weight_decay on every parameter); the learning rate is for the
  config's global_batch_size: the slots split the batch and average their gradients, so the
  number of processes does not change it.
- Schedule: CosineAnnealingLR(T_max = cosine_annealing_epochs) stepped by hand on the first
  batch of every epoch, its value overwritten during the first 5 epochs by the linear warm-up
  learning_rate * (epoch + 1) / 5. Because torch's cosine step is relative to the current value,
  the epochs after the warm-up follow 0.5 (1 + cos(pi (e + 1) / T)) / (1 + cos(5 pi / T)) times
  learning_rate, as in the original.
- Drop path off (the original forces it to 0 every batch)."""
import logging
import warnings

import torch
from torch import nn
from torchvision import transforms

from data import ImageNetDataset, data_source
from model import NetworkImageNet
from nasrepro.archs.darts import Genotype
from nasrepro.data.cifar import IMAGENET_MEAN, IMAGENET_STD
from nasrepro.data.torch_datasets import SeededAugmentation
from nasrepro.errors import ConfigError
from nasrepro.hpsearch.trial_context import DataLoader, StepMode, TrialContext
from utils import AutoAugment, CrossEntropyLabelSmooth, Cutout, HSwish, Swish, accuracy

# The GAEA PC-DARTS cell searched on ImageNet, as the example hard-codes it.
GAEA_GENOTYPE = Genotype(
    normal=[("skip_connect", 1), ("skip_connect", 0), ("sep_conv_3x3", 2), ("sep_conv_3x3", 1),
            ("sep_conv_5x5", 2), ("sep_conv_3x3", 0), ("sep_conv_5x5", 3), ("sep_conv_5x5", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("dil_conv_5x5", 2),
            ("sep_conv_3x3", 1), ("sep_conv_3x3", 3), ("sep_conv_5x5", 1), ("max_pool_3x3", 2)],
    reduce_concat=[2, 3, 4, 5])

ACTIVATIONS = {"relu": nn.ReLU, "swish": Swish, "hswish": HSwish}
WARMUP_EPOCHS = 5
CROP_SIZE = 224
log = logging.getLogger("gaea_imagenet")


def activation_class(name: str, source: str = "hyperparameters"):
    if name not in ACTIVATIONS:
        raise ConfigError(f"{source}: hyperparameters.activation={name!r}: expected one of "
                          f"{', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def build_network(hparams: dict, source: str = "hyperparameters") -> NetworkImageNet:
    """The network a trial with these hyperparameters trains (the static checks and the
    benchmarks build it here too)."""
    return NetworkImageNet(GAEA_GENOTYPE, activation_class(hparams["activation"], source),
                           hparams["init_channels"], hparams["num_classes"], hparams["layers"],
                           auxiliary=hparams["auxiliary"], do_SE=hparams["do_SE"])


def warmup_lr(base_lr: float, epoch: int) -> float:
    return base_lr * (epoch + 1) / WARMUP_EPOCHS


class ImageNetTrial:
    def __init__(self, context: TrialContext):
        self.context = context
        self.data_config = context.get_data_config()
        hp = context.get_hparam
        self.criterion = CrossEntropyLabelSmooth(hp("num_classes"), hp("label_smoothing_rate"))
        self.network = build_network(context.get_hparams(), source=context.source)
        self.model = context.wrap_model(self.network)
        self.optimizer = context.wrap_optimizer(torch.optim.SGD(
            self.model.parameters(), lr=hp("learning_rate"), momentum=hp("momentum"),
            weight_decay=hp("weight_decay")))
        self.scheduler = context.wrap_lr_scheduler(
            torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer,
                                                       hp("cosine_annealing_epochs")),
            step_mode=StepMode.MANUAL_STEP)
        # Kept in the checkpoint: the original reset it to -1 on restore, which stepped the
        # cosine once more on the first batch after a resume.
        self.last_epoch_idx = -1

    # --- data --------------------------------------------------------------------------------
    def _dataset(self, split: str, transform):
        hp = self.context.get_hparam
        dataset = ImageNetDataset(split, self.data_config, transform, hp("num_classes"),
                                  seed=self.context.get_trial_seed())
        classes = getattr(dataset, "classes", None)
        if classes is not None and len(classes) > hp("num_classes"):
            raise ConfigError(f"{self.context.source}: hyperparameters.num_classes="
                              f"{hp('num_classes')}, but the {split} data has {len(classes)} "
                              "classes")
        return dataset

    def _loader(self, dataset, shuffle: bool, workers_key: str) -> DataLoader:
        return DataLoader(dataset, batch_size=self.context.get_per_slot_batch_size(),
                          shuffle=shuffle, pin_memory=True,
                          num_workers=int(self.data_config.get(workers_key, 0)))

    def train_transform(self):
        hp = self.context.get_hparam
        steps = [transforms.RandomResizedCrop(CROP_SIZE), transforms.RandomHorizontalFlip(),
                 transforms.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2),
                 transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
        if hp("cutout"):
            steps.append(Cutout(hp("cutout_length")))
        if hp("autoaugment"):
            # On the full-size PIL image, before the crop, as the example inserted it.
            full_size = bool(self.context.get_hparams().get("autoaugment_full_size", False))
            steps.insert(0, AutoAugment(full_size=full_size))
        return transforms.Compose(steps)

    def build_training_data_loader(self) -> DataLoader:
        dataset = self._dataset("train", self.train_transform())
        if data_source(self.data_config) != "random":
            dataset = SeededAugmentation(dataset, self.context.get_trial_seed())
        return self._loader(dataset, True, "num_workers_train")

    def build_validation_data_loader(self) -> DataLoader:
        transform = transforms.Compose([
            transforms.Resize(256), transforms.CenterCrop(CROP_SIZE), transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
        return self._loader(self._dataset("validation", transform), False, "num_workers_val")

    # --- steps -------------------------------------------------------------------------------
    def adjust_learning_rate(self, epoch_idx: int, batch_idx: int) -> None:
        """The original's manual schedule step at the first batch of each epoch."""
        if not (batch_idx == 0 or self.last_epoch_idx < epoch_idx):
            return
        with warnings.catch_warnings():
            # The original stepped before the first optimizer step too; torch warns about it.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            self.scheduler.step()
        if epoch_idx < WARMUP_EPOCHS:
            lr = warmup_lr(self.context.get_hparam("learning_rate"), epoch_idx)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            log.info("Warming-up Epoch: %d, LR: %s", epoch_idx, lr)
        else:
            log.info("Epoch: %d lr %s", epoch_idx, self.scheduler.get_last_lr()[0])

    def train_batch(self, batch, epoch_idx: int, batch_idx: int) -> dict:
        self.adjust_learning_rate(epoch_idx, batch_idx)
        images, target = batch
        self.network.drop_path_prob = 0.0
        logits, aux_logits = self.model(images)
        loss = self.criterion(logits, target)
        if self.context.get_hparam("auxiliary"):
            loss = loss + self.context.get_hparam("auxiliary_weight") * \
                self.criterion(aux_logits, target)
        top1, top5 = accuracy(logits.detach(), target, topk=(1, 5))
        self.last_epoch_idx = epoch_idx
        self.context.backward(loss)
        self.context.step_optimizer(self.optimizer)
        return {"loss": loss.detach(), "top1_accuracy": top1, "top5_accuracy": top5}

    def evaluate_batch(self, batch) -> dict:
        images, target = batch
        logits, _ = self.model(images)
        top1, top5 = accuracy(logits, target, topk=(1, 5))
        return {"loss": self.criterion(logits, target), "top1_accuracy": top1,
                "top5_accuracy": top5}

    def state_dict(self) -> dict:
        return {"last_epoch_idx": self.last_epoch_idx}

    def load_state_dict(self, state: dict) -> None:
        self.last_epoch_idx = int(state["last_epoch_idx"])
