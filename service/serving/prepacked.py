"""Transposed convolutions whose weights are put in oneDNN's layout once, at load, instead of on every forward.

On CPU, `nn.ConvTranspose2d` hands oneDNN its weights in PyTorch's layout, and oneDNN reorders them into the blocked
layout its kernels read on every call. For the 64 px DCGAN in bf16 that is about 1.9 ms per forward whatever the
batch: two thirds of one image's cost, a fifth of a batch of 15's (docs/benchmarks.md). `torch.compile` with freezing
removes it the same way (its generated code calls these two oneDNN ops), but compiles once per batch size; the
reordered weights serve every batch size here.

The ops are PyTorch's own (`torch.ops.mkldnn`), CPU only, and not a public API: `precision` uses a prepacked copy only
where its probe images are bit-identical to what autocast makes of the generator, so a PyTorch that changes them
costs speed, never bytes.
"""

from __future__ import annotations

import torch
from torch import nn


class PrepackedConvTranspose2d(nn.Module):
    """A CPU `nn.ConvTranspose2d`, called without `output_size`, with its weights reordered once."""

    def __init__(self, conv: nn.ConvTranspose2d):
        super().__init__()
        self.padding, self.output_padding = list(conv.padding), list(conv.output_padding)
        self.stride, self.dilation, self.groups = list(conv.stride), list(conv.dilation), conv.groups
        # Opaque oneDNN tensors: buffers, so that the cache counts their bytes; not persistent: they cannot be saved.
        packed = torch.ops.mkldnn._reorder_convolution_transpose_weight(
            conv.weight.detach(), self.padding, self.output_padding, self.stride, self.dilation, self.groups)
        self.register_buffer("packed_weight", packed, persistent=False)
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Autocast has no rule for this op: the input is cast to the weights' dtype here, as autocast casts it for
        # conv_transpose2d.
        return torch.ops.mkldnn._convolution_transpose_pointwise(
            x.to(self.packed_weight.dtype), self.packed_weight, self.bias, self.padding, self.output_padding,
            self.stride, self.dilation, self.groups, "none", [], "")


def prepack(net: nn.Module) -> nn.Module:
    """`net` (changed in place) with each plain, unhooked transposed convolution replaced by its prepacked twin."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            # A subclass may do more in its forward, and a hook would be lost with the module it is on.
            if type(child) is nn.ConvTranspose2d and not (child._forward_hooks or child._forward_pre_hooks):
                setattr(parent, name, PrepackedConvTranspose2d(child))
    return net
