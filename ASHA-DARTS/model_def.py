"""DARTSCNNTrial: one trial of the example (entrypoint model_def:DARTSCNNTrial).

The 32 architecture hyperparameters become a DARTS genotype; the network is DARTS' NetworkCIFAR
(20 cells, 36 channels, auxiliary head) trained with SGD and a per-epoch cosine schedule, drop
path ramped linearly over train_epochs, cutout and gradient clipping, on CIFAR-10; validation is
the CIFAR-10 test split, as in the original (determined-ai/determined,
examples/computer_vision/darts_cifar10_pytorch/model_def.py). Written against Determined's
PyTorchTrial API; nasrepro.hpsearch plays the harness."""
import torch
from torch import nn

from model import NetworkCIFAR
from nasrepro.archs.darts_hparams import genotype_from_hparams
from nasrepro.data.cifar import read_cifar
from nasrepro.data.locate import resolve_data_path
from nasrepro.data.torch_datasets import ArrayImageDataset, SeededAugmentation
from nasrepro.hpsearch.trial_context import DataLoader, StepMode, TrialContext
from utils import CIFAR10_MEAN, CIFAR10_STD, accuracy, cifar_train_transform, cifar_valid_transform

NUM_CLASSES = 10


def build_network(hparams: dict, source: str = "hyperparameters") -> NetworkCIFAR:
    """The network a trial with these hyperparameters trains (static checks, the search's
    parameter count and the benchmarks build it here too)."""
    genotype = genotype_from_hparams(hparams, source=source)
    return NetworkCIFAR(hparams["init_channels"], NUM_CLASSES, hparams["layers"],
                        hparams["auxiliary"], genotype)


def set_drop_path(model: NetworkCIFAR, hparams: dict, epoch: int) -> None:
    """The drop-path ramp: 0 at epoch 0 up to drop_path_prob at train_epochs, set as DARTS'
    train.py sets it, on the model."""
    model.drop_path_prob = hparams["drop_path_prob"] * epoch / hparams["train_epochs"]


class DARTSCNNTrial:
    def __init__(self, context: TrialContext):
        self.context = context
        self.hparams = context.get_hparams()
        self.data_config = context.get_data_config()
        self.criterion = nn.CrossEntropyLoss()
        hp = context.get_hparam
        self.genotype = genotype_from_hparams(self.hparams, source=context.source)
        self.model = context.wrap_model(build_network(self.hparams, source=context.source))
        self.optimizer = context.wrap_optimizer(torch.optim.SGD(
            self.model.parameters(), lr=hp("learning_rate"), momentum=hp("momentum"),
            weight_decay=hp("weight_decay")))
        self.lr_scheduler = context.wrap_lr_scheduler(
            torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, hp("train_epochs"), 0),
            step_mode=StepMode.STEP_EVERY_EPOCH)
        # 2020-11 "track best validation metric": report the best validation seen so far.
        self.report_best = bool(self.hparams.get("report_best_validation", False))
        self.best_metrics = None

    # --- data --------------------------------------------------------------------------------
    def _cifar(self):
        if not hasattr(self, "_data"):
            given = self.data_config.get("data_download_dir")
            path = resolve_data_path(given, "cifar10", flag="data.data_download_dir (--data)")
            data = read_cifar(path, "cifar10")
            train_n = int(self.data_config.get("num_train_images", 0) or 0)
            valid_n = int(self.data_config.get("num_valid_images", 0) or 0)
            self._data = (data.images["train"][:train_n or None],
                          data.labels["train"][:train_n or None],
                          data.images["test"][:valid_n or None],
                          data.labels["test"][:valid_n or None])
        return self._data

    def build_training_data_loader(self) -> DataLoader:
        images, labels = self._cifar()[:2]
        cutout = self.context.get_hparam("cutout_length") if self.context.get_hparam("cutout") else 0
        dataset = SeededAugmentation(ArrayImageDataset(
            images, labels, cifar_train_transform(CIFAR10_MEAN, CIFAR10_STD, cutout)),
            self.context.get_trial_seed())
        return DataLoader(dataset, batch_size=self.context.get_per_slot_batch_size(), shuffle=True,
                          num_workers=int(self.data_config.get("num_workers", 2)), pin_memory=True)

    def build_validation_data_loader(self) -> DataLoader:
        images, labels = self._cifar()[2:]
        dataset = ArrayImageDataset(images, labels, cifar_valid_transform(CIFAR10_MEAN, CIFAR10_STD))
        return DataLoader(dataset, batch_size=self.context.get_per_slot_batch_size(), shuffle=False,
                          num_workers=int(self.data_config.get("num_workers", 2)), pin_memory=True)

    # --- steps -------------------------------------------------------------------------------
    def train_batch(self, batch, epoch_idx: int, batch_idx: int) -> dict:
        images, target = batch
        hp = self.context.get_hparam
        # The drop-path ramp follows the scheduler's epoch count.
        set_drop_path(self.model, self.hparams, self.lr_scheduler.last_epoch)
        logits, aux_logits = self.model(images)
        loss = self.criterion(logits, target)
        if aux_logits is not None:
            loss = loss + hp("auxiliary_weight") * self.criterion(aux_logits, target)
        top1, top5 = accuracy(logits, target, topk=(1, 5))
        self.context.backward(loss)
        clip = float(hp("clip_gradients_l2_norm"))
        self.context.step_optimizer(
            self.optimizer, clip_grads=lambda params: nn.utils.clip_grad_norm_(params, clip))
        return {"loss": loss.detach(), "top1_accuracy": top1, "top5_accuracy": top5}

    def evaluate_batch(self, batch) -> dict:
        images, target = batch
        logits, _ = self.model(images)
        top1, top5 = accuracy(logits, target, topk=(1, 5))
        return {"loss": self.criterion(logits, target).item(), "top1_accuracy": top1,
                "top5_accuracy": top5}

    def evaluate_full_dataset(self, loader) -> dict:
        """evaluate_batch averaged over batches; the best so far (by top1) when
        report_best_validation is on."""
        rows = [self.evaluate_batch(self.context.to_device(batch)) for batch in loader]
        metrics = {key: sum(row[key] for row in rows) / len(rows) for key in rows[0]}
        if self.report_best:
            if self.best_metrics is None or metrics["top1_accuracy"] > self.best_metrics["top1_accuracy"]:
                self.best_metrics = dict(metrics)
            return dict(self.best_metrics)
        return metrics

    # Kept in the checkpoint so a resumed trial remembers its best validation.
    def state_dict(self) -> dict:
        return {"best_metrics": self.best_metrics}

    def load_state_dict(self, state: dict) -> None:
        self.best_metrics = state.get("best_metrics")
