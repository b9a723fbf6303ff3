"""Start a PyTorch network as its Keras original starts (the FIDLE notebooks are Keras).

Why: PyTorch's default init (kaiming_uniform with a=sqrt(5), i.e. a bound of 1/sqrt(fan_in),
and biases drawn from the same range) is smaller than Keras' glorot_uniform for wide layers; with
it FIDLE's deep, un-normalized cnn_v2 stays at chance for epochs on small sets. And Keras'
BatchNorm keeps 99 % of its moving statistics per step (PyTorch: 90 %) and adds 1e-3 to the
variance (PyTorch: 1e-5), which changes what a network does in evaluation.

What `keras_init` sets, per layer type:
- Linear, Conv1d, Conv2d: glorot_uniform kernels, zero biases.
- BatchNorm1d/2d: momentum 0.01 (Keras' 0.99 counted the other way), eps 1e-3, weight 1, bias 0.
- LSTM, GRU, and our Keras ports of them: glorot_uniform input kernels and orthogonal recurrent
  kernels, each on the whole stacked-gate matrix as Keras draws them, zero biases; LSTM forget
  gates start at bias 1 (Keras' unit_forget_bias). That rule is recurrent_cells'
  `keras_recurrent_init`, which the ports also apply as they are built.
- Embedding: uniform in [-0.05, 0.05] (the padding row, if any, stays zero as PyTorch keeps it).
"""

from typing import TypeVar

import torch
from torch import nn

from fidle_runs.models.recurrent_cells import KerasGRU, KerasLSTM, keras_recurrent_init

Net = TypeVar("Net", bound=nn.Module)

EMBEDDING_BOUND = 0.05
BATCHNORM_MOMENTUM = 0.01
BATCHNORM_EPS = 1e-3


def keras_init(net: Net) -> Net:
    """Re-initialize every supported layer of `net` in place, as Keras would; returns `net`."""
    for layer in net.modules():
        if isinstance(layer, nn.Linear | nn.Conv1d | nn.Conv2d):
            _glorot_kernel(layer)
        elif isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d):
            _keras_batchnorm(layer)
        elif isinstance(layer, nn.LSTM | nn.GRU | KerasLSTM | KerasGRU):
            keras_recurrent_init(layer)
        elif isinstance(layer, nn.Embedding):
            _keras_embedding(layer)
    return net


def _glorot_kernel(layer: nn.Linear | nn.Conv1d | nn.Conv2d) -> None:
    # xavier_uniform_ takes fan_in = in_channels * kernel size and fan_out = out_channels * kernel
    # size, as Keras does for Dense and Conv kernels.
    nn.init.xavier_uniform_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def _keras_batchnorm(layer: nn.BatchNorm1d | nn.BatchNorm2d) -> None:
    layer.momentum = BATCHNORM_MOMENTUM
    layer.eps = BATCHNORM_EPS
    layer.reset_parameters()


def _keras_embedding(layer: nn.Embedding) -> None:
    nn.init.uniform_(layer.weight, -EMBEDDING_BOUND, EMBEDDING_BOUND)
    if layer.padding_idx is not None:
        with torch.no_grad():
            layer.weight[layer.padding_idx] = 0.0
