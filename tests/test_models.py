import re

import pytest
import torch
from torch import nn

from fidle_runs.models.cnn import cnn_v1, cnn_v2, cnn_v3, lmnist_cnn, mnist_cnn
from fidle_runs.models.dense import lmnist_mlp, mlp, mnist_dnn
from tests.test_keras_init import assert_glorot_uniform


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(("builder", "shape", "expected"), [
    # FIDLE's counts (fidle.md §2, §5.2).
    (cnn_v1, (1, 24, 24), 4_841_083),
    (cnn_v1, (1, 48, 48), 29_033_083),
    (cnn_v2, (1, 24, 24), 1_297_899),
    (cnn_v2, (1, 48, 48), 3_263_979),
    (cnn_v2, (3, 48, 48), 3_263_979 + 1_152),
    # Keras counts BatchNorm's moving statistics (2,641,835 / 9,719,723 with them); torch does not.
    (cnn_v3, (1, 24, 24), 2_641_835 - 2 * (32 + 64 + 128 + 512)),
    (cnn_v3, (1, 48, 48), 9_719_723 - 2 * (32 + 64 + 128 + 512)),
])
def test_parameter_counts_match_fidle(builder, shape, expected):
    assert trainable(builder(shape)) == expected


@pytest.mark.parametrize("builder", [cnn_v1, cnn_v2, cnn_v3])
@pytest.mark.parametrize("shape", [(1, 24, 24), (3, 48, 48)])
def test_forward_gives_one_logit_per_class(builder, shape):
    model = builder(shape, n_outputs=43).eval()
    assert model(torch.zeros(5, *shape)).shape == (5, 43)


def test_v3_batchnorm_statistics_complete_keras_count():
    model = cnn_v3((1, 24, 24))
    stats = sum(b.numel() for name, b in model.named_buffers() if "running" in name)
    assert trainable(model) + stats == 2_641_835


def test_too_small_input_is_a_clear_error():
    with pytest.raises(ValueError, match="too small"):
        cnn_v1((1, 8, 8))


@pytest.mark.parametrize("builder", [cnn_v1, cnn_v2, cnn_v3])
def test_gtsrb_cnns_start_as_keras_does(builder):
    """Zero biases and glorot_uniform kernels (bound sqrt(6 / (fan_in + fan_out)), and its
    distribution: tests.test_keras_init.assert_glorot_uniform)."""
    torch.manual_seed(0)
    layers = [m for m in builder((1, 24, 24)).modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert layers
    for layer in layers:
        w = layer.weight
        receptive = w[0, 0].numel() if w.dim() == 4 else 1
        assert_glorot_uniform(w, w.shape[1] * receptive, w.shape[0] * receptive)
        assert (layer.bias == 0).all()


def test_v3_batchnorm_is_keras_batchnorm():
    norms = [m for m in cnn_v3((1, 24, 24)).modules()
             if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)]
    assert len(norms) == 4
    assert all(b.momentum == pytest.approx(0.01) and b.eps == pytest.approx(1e-3) for b in norms)


# LMNIST2 from its layers: conv 1->8 (3x3), conv 8->16 (3x3), 16 x 5 x 5 = 400 -> 100 -> 10.
LMNIST2_PARAMS = (1 * 8 * 9 + 8) + (8 * 16 * 9 + 16) + (400 * 100 + 100) + (100 * 10 + 10)


@pytest.mark.parametrize(("build", "expected"), [
    # FIDLE's counts (fidle.md §8).
    (lambda: mnist_dnn((1, 28, 28)), 89_610),
    (lambda: lmnist_mlp((1, 28, 28)), 89_610),
    (lambda: mnist_cnn((1, 28, 28)), 42_358),
    (lambda: mnist_cnn((1, 28, 28), padding="same"), 80_758),
    (lambda: lmnist_cnn((1, 28, 28)), LMNIST2_PARAMS),
    (lambda: mlp((1, 28, 28), 10), 89_610),
])
def test_mnist_parameter_counts_match_fidle(build, expected):
    assert trainable(build()) == expected


@pytest.mark.parametrize("builder", [mnist_dnn, lmnist_mlp, mnist_cnn, lmnist_cnn])
@pytest.mark.parametrize(("shape", "n_outputs"), [((1, 28, 28), 10), ((3, 32, 32), 7)])
def test_mnist_nets_give_one_logit_per_output(builder, shape, n_outputs):
    model = builder(shape, n_outputs).eval()
    assert model(torch.zeros(4, *shape)).shape == (4, n_outputs)


@pytest.mark.parametrize("builder", [mnist_cnn, lmnist_cnn, cnn_v1, cnn_v2, cnn_v3])
def test_cnns_refuse_tables_with_a_clear_error(builder):
    with pytest.raises(ValueError, match=re.escape(
            f"{builder.__name__} needs images (channels, height, width), got in_shape (13,)")):
        builder((13,))


@pytest.mark.parametrize("bad", [(), (0, 28, 28), "abc", 784])
def test_bad_in_shapes_are_clear_errors(bad):
    with pytest.raises(ValueError, match="mnist_dnn needs an in_shape of positive integer"):
        mnist_dnn(bad)


def test_mnist_cnn_padding_must_be_valid_or_same():
    with pytest.raises(ValueError, match="padding='full' is not one of valid, same"):
        mnist_cnn((1, 28, 28), padding="full")


def test_dense_nets_take_tables():
    assert mnist_dnn((13,), 1)(torch.zeros(2, 13)).shape == (2, 1)
    assert mlp((13,), 3)(torch.zeros(2, 13)).shape == (2, 3)


def test_mlp_builds_the_layers_it_is_asked_for():
    model = mlp((20,), 2, widths=[64, 32, 16], dropout=[0.1, 0.0, 0.3], activation="gelu",
                batch_norm=True)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Flatten",
                     "Linear", "BatchNorm1d", "GELU", "Dropout",
                     "Linear", "BatchNorm1d", "GELU",
                     "Linear", "BatchNorm1d", "GELU", "Dropout",
                     "Linear"]
    assert [m.p for m in model if isinstance(m, nn.Dropout)] == [0.1, 0.3]
    assert [m.out_features for m in model if isinstance(m, nn.Linear)] == [64, 32, 16, 2]
    assert all(m.momentum == pytest.approx(0.01) for m in model if isinstance(m, nn.BatchNorm1d))
    assert model.eval()(torch.zeros(3, 20)).shape == (3, 2)


def test_mlp_one_dropout_rate_for_all_and_no_hidden_layer():
    assert [m.p for m in mlp((5,), 2, widths=(8, 8), dropout=0.2) if isinstance(m, nn.Dropout)] \
        == [0.2, 0.2]
    assert [type(m).__name__ for m in mlp((5,), 2, widths=[])] == ["Flatten", "Linear"]


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh", "elu", "leaky_relu", "selu",
                                        "sigmoid"])
def test_mlp_activations_by_name(activation):
    assert mlp((5,), 2, widths=[4], activation=activation)(torch.zeros(1, 5)).shape == (1, 2)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"activation": "swish"}, "activation='swish' is not one of relu, gelu"),
    ({"widths": [100, 0]}, "widths=[100, 0] must be a list of positive integers"),
    ({"widths": 100}, "widths=100 must be a list"),
    ({"widths": [10.5]}, "widths=[10.5] must be"),
    ({"dropout": [0.1]}, "dropout=[0.1] needs one rate or 2 (one per width), got 1"),
    ({"dropout": 1.0}, "dropout=1.0 rates must be in [0, 1)"),
    ({"dropout": [0.1, -0.1]}, "dropout=[0.1, -0.1] rates must be in"),
])
def test_mlp_bad_options_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=re.escape("mlp: " + message)):
        mlp((5,), 2, **kwargs)
