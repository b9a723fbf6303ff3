"""FIDLE's published GTSRB5 results (fidle.md §5.4: v2.0.17, Jean Zay V100, TF 2.4, scale 1,
batch 64, 16 epochs, no augmentation, validated on the test set), for comparison column by
column. Test accuracy in % of each of its two identical runs."""

from statistics import mean

GTSRB5_TEST_ACC = {
    ("set-24x24-L", "cnn_v1"): (95.65, 96.16), ("set-24x24-L", "cnn_v2"): (96.48, 96.94),
    ("set-24x24-L", "cnn_v3"): (95.39, 95.45),
    ("set-24x24-RGB", "cnn_v1"): (96.30, 96.44), ("set-24x24-RGB", "cnn_v2"): (97.22, 96.90),
    ("set-24x24-RGB", "cnn_v3"): (96.21, 96.33),
    ("set-48x48-L", "cnn_v1"): (95.90, 96.29), ("set-48x48-L", "cnn_v2"): (97.92, 98.15),
    ("set-48x48-L", "cnn_v3"): (97.48, 97.61),
    ("set-48x48-RGB", "cnn_v1"): (96.35, 96.43), ("set-48x48-RGB", "cnn_v2"): (98.79, 98.29),
    ("set-48x48-RGB", "cnn_v3"): (97.93, 97.80),
    ("set-24x24-L-LHE", "cnn_v1"): (95.77, 95.68), ("set-24x24-L-LHE", "cnn_v2"): (96.69, 96.88),
    ("set-24x24-L-LHE", "cnn_v3"): (94.99, 95.46),
    ("set-24x24-RGB-HE", "cnn_v1"): (95.04, 95.47),
    ("set-24x24-RGB-HE", "cnn_v2"): (96.63, 96.70),
    ("set-24x24-RGB-HE", "cnn_v3"): (94.46, 94.75),
    ("set-48x48-L-LHE", "cnn_v1"): (96.57, 96.83), ("set-48x48-L-LHE", "cnn_v2"): (97.71, 98.20),
    ("set-48x48-L-LHE", "cnn_v3"): (97.66, 97.89),
    ("set-48x48-RGB-HE", "cnn_v1"): (95.23, 95.28),
    ("set-48x48-RGB-HE", "cnn_v2"): (97.65, 97.94),
    ("set-48x48-RGB-HE", "cnn_v3"): (96.82, 96.46),
}


def fidle_test_acc(dataset: str, model: str) -> float | None:
    """FIDLE's mean test accuracy (%) over its two runs, or None where it published none."""
    runs = GTSRB5_TEST_ACC.get((dataset, model))
    return round(mean(runs), 2) if runs else None
