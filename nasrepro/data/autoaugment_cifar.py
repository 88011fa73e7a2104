"""AutoAugment's CIFAR-10 policies as the AutoAugment release ships them (Cubuk et al., arXiv
1805.09501; tensorflow/models research/autoaugment, policies.py `good_policies` and
augmentation_transforms.py), applied to PIL images the way Determined's GAEA ImageNet example
applied them (determined-ai/determined 208ee11c52,
examples/experimental/imagenet_nas_arch_pytorch/autoaugment/).

One of the 95 sub-policies is drawn uniformly per image; each of its two operations is applied
with its probability at its level (0-10). Magnitudes are the release's CIFAR ones: rotate up to
30 degrees, shear up to 0.3, translate up to 10 pixels, cutout up to 20 pixels.

The release wrote its geometric operations for 32x32 images: shear and translate return a 32x32
image (PIL's transform with size (32, 32)) and cutout places its patch inside the top-left 32x32.
On an ImageNet image that crops it to its top-left corner, which the example then resized to 224.
`full_size=False` keeps that (the behaviour the example's learning curve came from);
`full_size=True` keeps the image's size and places cutout anywhere in it.

Random draws come from torch's generator so that nasrepro.data.torch_datasets.SeededAugmentation
makes them repeatable per (seed, epoch, image)."""
from __future__ import annotations

import torch
from PIL import Image, ImageEnhance, ImageOps

PARAMETER_MAX = 10
RELEASE_IMAGE_SIZE = 32
CUTOUT_FILL = (125, 122, 113)

# (operation, probability, level) pairs, two per sub-policy: exp0_0 ... exp0_3, exp1_0 ...
# exp1_6, exp2_0 ... exp2_7 of the release, in its order.
GOOD_POLICIES = (
    (("Invert", 0.1, 7), ("Contrast", 0.2, 6)), (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
    (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)), (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.5, 8), ("Equalize", 0.9, 2)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, 3)),
    (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, 2), ("Solarize", 0.8, 3)), (("Equalize", 0.8, 8), ("Invert", 0.1, 3)),
    (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, 1)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.0, 2)),
    (("TranslateY", 0.7, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, 0), ("Solarize", 0.4, 3)), (("Equalize", 0.7, 5), ("Invert", 0.1, 3)),
    (("TranslateY", 0.7, 9), ("TranslateY", 0.7, 9)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, 1)),
    (("TranslateY", 0.8, 9), ("TranslateY", 0.9, 9)),
    (("AutoContrast", 0.8, 0), ("TranslateY", 0.7, 9)),
    (("TranslateY", 0.2, 7), ("Color", 0.9, 6)), (("Equalize", 0.7, 6), ("Color", 0.4, 9)),
    # exp1
    (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)), (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
    (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)), (("Equalize", 0.6, 5), ("Equalize", 0.5, 1)),
    (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
    (("Brightness", 0.3, 7), ("AutoContrast", 0.5, 8)),
    (("AutoContrast", 0.9, 4), ("AutoContrast", 0.5, 6)),
    (("Solarize", 0.3, 5), ("Equalize", 0.6, 5)), (("TranslateY", 0.2, 4), ("Sharpness", 0.3, 3)),
    (("Brightness", 0.0, 8), ("Color", 0.8, 8)),
    (("Solarize", 0.2, 6), ("Color", 0.8, 6)), (("Solarize", 0.2, 6), ("AutoContrast", 0.8, 1)),
    (("Solarize", 0.4, 1), ("Equalize", 0.6, 5)), (("Brightness", 0.0, 0), ("Solarize", 0.5, 2)),
    (("AutoContrast", 0.9, 5), ("Brightness", 0.5, 3)),
    (("Contrast", 0.7, 5), ("Brightness", 0.0, 2)), (("Solarize", 0.2, 8), ("Solarize", 0.1, 5)),
    (("Contrast", 0.5, 1), ("TranslateY", 0.2, 9)),
    (("AutoContrast", 0.6, 5), ("TranslateY", 0.0, 9)),
    (("AutoContrast", 0.9, 4), ("Equalize", 0.8, 4)),
    (("Brightness", 0.0, 7), ("Equalize", 0.4, 7)), (("Solarize", 0.2, 5), ("Equalize", 0.7, 5)),
    (("Equalize", 0.6, 8), ("Color", 0.6, 2)), (("Color", 0.3, 7), ("Color", 0.2, 4)),
    (("AutoContrast", 0.5, 2), ("Solarize", 0.7, 2)),
    (("AutoContrast", 0.2, 0), ("Equalize", 0.1, 0)), (("ShearY", 0.6, 5), ("Equalize", 0.6, 5)),
    (("Brightness", 0.9, 3), ("AutoContrast", 0.4, 1)),
    (("Equalize", 0.8, 8), ("Equalize", 0.7, 7)), (("Equalize", 0.7, 7), ("Solarize", 0.5, 0)),
    (("Equalize", 0.8, 4), ("TranslateY", 0.8, 9)),
    (("TranslateY", 0.8, 9), ("TranslateY", 0.6, 9)),
    (("TranslateY", 0.9, 0), ("TranslateY", 0.5, 9)),
    (("AutoContrast", 0.5, 3), ("Solarize", 0.3, 4)), (("Solarize", 0.5, 3), ("Equalize", 0.4, 4)),
    # exp2
    (("Color", 0.7, 7), ("TranslateX", 0.5, 8)), (("Equalize", 0.3, 7), ("AutoContrast", 0.4, 8)),
    (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)), (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
    (("Solarize", 0.5, 2), ("Invert", 0.0, 3)),
    (("AutoContrast", 0.1, 5), ("Brightness", 0.0, 0)), (("Cutout", 0.2, 4), ("Equalize", 0.1, 1)),
    (("Equalize", 0.7, 7), ("AutoContrast", 0.6, 4)), (("Color", 0.1, 8), ("ShearY", 0.2, 3)),
    (("ShearY", 0.4, 2), ("Rotate", 0.7, 0)),
    (("ShearY", 0.1, 3), ("AutoContrast", 0.9, 5)), (("TranslateY", 0.3, 6), ("Cutout", 0.3, 3)),
    (("Equalize", 0.5, 0), ("Solarize", 0.6, 6)), (("AutoContrast", 0.3, 5), ("Rotate", 0.2, 7)),
    (("Equalize", 0.8, 2), ("Invert", 0.4, 0)),
    (("Equalize", 0.9, 5), ("Color", 0.7, 0)), (("Equalize", 0.1, 1), ("ShearY", 0.1, 3)),
    (("AutoContrast", 0.7, 3), ("Equalize", 0.7, 0)),
    (("Brightness", 0.5, 1), ("Contrast", 0.1, 7)), (("Contrast", 0.1, 4), ("Solarize", 0.6, 5)),
    (("Solarize", 0.2, 3), ("ShearX", 0.0, 0)), (("TranslateX", 0.3, 0), ("TranslateX", 0.6, 0)),
    (("Equalize", 0.5, 9), ("TranslateY", 0.6, 7)), (("ShearX", 0.1, 0), ("Sharpness", 0.5, 1)),
    (("Equalize", 0.8, 6), ("Invert", 0.3, 6)),
    (("AutoContrast", 0.3, 9), ("Cutout", 0.5, 3)), (("ShearX", 0.4, 4), ("AutoContrast", 0.9, 2)),
    (("ShearX", 0.0, 3), ("Posterize", 0.0, 3)), (("Solarize", 0.4, 3), ("Color", 0.2, 4)),
    (("Equalize", 0.1, 4), ("Equalize", 0.7, 6)),
    (("Equalize", 0.3, 8), ("AutoContrast", 0.4, 3)),
    (("Solarize", 0.6, 4), ("AutoContrast", 0.7, 6)),
    (("AutoContrast", 0.2, 9), ("Brightness", 0.4, 8)),
    (("Equalize", 0.1, 0), ("Equalize", 0.0, 6)), (("Equalize", 0.8, 4), ("Equalize", 0.0, 4)),
    (("Equalize", 0.5, 5), ("AutoContrast", 0.1, 2)),
    (("Solarize", 0.5, 5), ("AutoContrast", 0.9, 5)),
    (("AutoContrast", 0.6, 1), ("AutoContrast", 0.7, 8)),
    (("Equalize", 0.2, 0), ("AutoContrast", 0.1, 2)), (("Equalize", 0.6, 9), ("Equalize", 0.4, 4)),
)


def _uniform() -> float:
    return float(torch.rand(()))


def _float_level(level: int, maxval: float) -> float:
    return float(level) * maxval / PARAMETER_MAX


def _int_level(level: int, maxval: int) -> int:
    return int(level * maxval / PARAMETER_MAX)


def _signed(value):
    # The release flips the sign when its draw is above one half.
    return -value if _uniform() > 0.5 else value


class CifarAutoAugment:
    """A PIL -> PIL transform: one random sub-policy of GOOD_POLICIES per call."""

    def __init__(self, full_size: bool = False, policies=GOOD_POLICIES):
        self.full_size = full_size
        self.policies = policies

    def _affine(self, image: Image.Image, coefficients) -> Image.Image:
        size = image.size if self.full_size else (RELEASE_IMAGE_SIZE, RELEASE_IMAGE_SIZE)
        return image.transform(size, Image.AFFINE, coefficients)

    def _cutout(self, image: Image.Image, level: int) -> Image.Image:
        size = _int_level(level, 20)
        if size <= 0:
            return image
        width, height = image.size if self.full_size else (RELEASE_IMAGE_SIZE,) * 2
        cy = int(torch.randint(height, ()))
        cx = int(torch.randint(width, ()))
        y0, y1 = max(0, cy - size // 2), min(height, cy + size // 2)
        x0, x1 = max(0, cx - size // 2), min(width, cx + size // 2)
        image = image.copy()
        image.paste(CUTOUT_FILL, (x0, y0, x1, y1))
        return image

    def apply(self, name: str, image: Image.Image, level: int) -> Image.Image:
        """One operation at `level`, unconditionally."""
        if name == "AutoContrast":
            return ImageOps.autocontrast(image)
        if name == "Equalize":
            return ImageOps.equalize(image)
        if name == "Invert":
            return ImageOps.invert(image)
        if name == "Rotate":
            return image.rotate(_signed(_int_level(level, 30)))
        if name == "Posterize":
            return ImageOps.posterize(image, 4 - _int_level(level, 4))
        if name == "Solarize":
            return ImageOps.solarize(image, 256 - _int_level(level, 256))
        if name in ("Color", "Contrast", "Brightness", "Sharpness"):
            enhancer = getattr(ImageEnhance, name)
            return enhancer(image).enhance(_float_level(level, 1.8) + 0.1)
        if name == "ShearX":
            return self._affine(image, (1, _signed(_float_level(level, 0.3)), 0, 0, 1, 0))
        if name == "ShearY":
            return self._affine(image, (1, 0, 0, _signed(_float_level(level, 0.3)), 1, 0))
        if name == "TranslateX":
            return self._affine(image, (1, 0, _signed(_int_level(level, 10)), 0, 1, 0))
        if name == "TranslateY":
            return self._affine(image, (1, 0, 0, 0, 1, _signed(_int_level(level, 10))))
        if name == "Cutout":
            return self._cutout(image, level)
        raise ValueError(f"AutoAugment operation {name!r} is not one of the release's")

    def __call__(self, image: Image.Image) -> Image.Image:
        image = image.convert("RGB")
        policy = self.policies[int(torch.randint(len(self.policies), ()))]
        for name, probability, level in policy:
            if _uniform() < probability:
                image = self.apply(name, image, level)
        return image

    def __repr__(self) -> str:
        return f"CifarAutoAugment(full_size={self.full_size}, {len(self.policies)} sub-policies)"
