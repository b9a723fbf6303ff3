"""FIDLE's published results, for comparison beside ours, keyed by (dataset, model) as our runs
name them, one number per published run: accuracies in % as published, MAEs as they are.

- GTSRB5 (fidle.md §5.4: v2.0.17, Jean Zay V100, TF 2.4, scale 1, batch 64, 16 epochs, no
  augmentation, validated on the test set): two identical runs per cell.
- MNIST1 DNN and MNIST2 CNN (fidle.md §8, v2: valid padding; Keras 3's `padding="same"` CNN is
  our mnist_cnn_same), LMNIST1 MLP (two 2023 runs); all validated on the test set.
- LADYB1 GRU (v2, V100: val_mae after 5 epochs) and SYNOP2 LSTM (v2: best val_mae of 10 epochs),
  z-scored MAEs, validated on the test set: our test_mae under data.val_on_test=true.
- BHPD1, BHPD2 (its best model, the one we test too), PBHPD1, K3WINE1 and LWINE1 (two 2023 runs)
  test MAEs in the target's units (k$, quality grades), validated on the test set.
- IMDB1 multi-hot DNN, IMDB2 embedding, IMDB5 LSTM (v2, vocabulary 10,000), validated on the
  test set; K3IMDB5's GRU ran on a fifth of IMDB only (0.5666): not a reference.
"""

from statistics import mean

TEST_ACC = "test_acc"
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
MNIST_TEST_ACC = {
    ("mnist", "mnist_dnn"): (97.72,), ("mnist", "mnist_cnn"): (98.68,),
    ("mnist", "mnist_cnn_same"): (98.76,), ("mnist", "lmnist_mlp"): (97.86, 97.68),
}
TEXT_TEST_ACC = {("imdb", "imdb_onehot"): (88.22,), ("imdb", "imdb_embedding"): (88.35,),
                 ("imdb", "imdb_lstm"): (87.28,)}
TEST_MAE = "test_mae"
SERIES_TEST_MAE = {("ladybug", "ladybug_gru"): (0.0094,), ("synop-LYS", "synop_lstm"): (0.366,)}
TABLE_TEST_MAE = {
    ("bhpd", "bhpd_dnn"): (2.39,), ("bhpd", "bhpd_dnn2"): (2.29,), ("bhpd", "pbhpd_dnn"): (2.32,),
    ("wine-quality-red", "wine_dnn"): (0.537,), ("wine-quality-red", "lwine_mlp"): (0.521, 0.528),
}
PUBLISHED = {TEST_ACC: {**GTSRB5_TEST_ACC, **MNIST_TEST_ACC, **TEXT_TEST_ACC},
             TEST_MAE: {**SERIES_TEST_MAE, **TABLE_TEST_MAE}}
PERCENT = {TEST_ACC}  # metrics FIDLE published in %
# Datasets FIDLE generates as we do: the same data whatever our runs' `source` says.
GENERATED = {"ladybug"}


def fidle_reference(dataset: str, model: str, metric: str) -> float | None:
    """FIDLE's mean over its published runs of `metric`, in the metric's own unit (accuracy as
    a fraction, rounded as a percentage to 2 decimals), or None where it published none."""
    runs = PUBLISHED.get(metric, {}).get((dataset, model))
    if not runs:
        return None
    return round(round(mean(runs), 2) / 100, 4) if metric in PERCENT else round(mean(runs), 6)
