import pytest
import torch

from fidle_runs.models.cnn import cnn_v1, cnn_v2, cnn_v3


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
    model = builder(shape, n_classes=43).eval()
    assert model(torch.zeros(5, *shape)).shape == (5, 43)


def test_v3_batchnorm_statistics_complete_keras_count():
    model = cnn_v3((1, 24, 24))
    stats = sum(b.numel() for name, b in model.named_buffers() if "running" in name)
    assert trainable(model) + stats == 2_641_835


def test_too_small_input_is_a_clear_error():
    with pytest.raises(ValueError, match="too small"):
        cnn_v1((1, 8, 8))
