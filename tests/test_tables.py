"""The tables family: FIDLE's regressors' parameter counts, a real run on scikit-learn's diabetes
set beside its baselines (recomputed here with numpy), CSVs in FIDLE's and any layout, the
encoding kept with the run, and one clear line for each bad input."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.tables.datamodule import (
    CSVTableDataModule,
    DiabetesDataModule,
    WineQualityDataModule,
)
from fidle_runs.models import dense
from fidle_runs.report.analysis import ANALYSES
from fidle_runs.run.train import train
from fidle_runs.store.result import read_result
from tests.conftest import compose_train

WINE_COLUMNS = ["fixed acidity", "volatile acidity", "citric acid", "residual sugar",
                "chlorides", "free sulfur dioxide", "total sulfur dioxide", "density", "pH",
                "sulphates", "alcohol", "quality"]


@pytest.mark.parametrize(("builder", "features", "params"), [
    (dense.bhpd_dnn, 13, 4_673), (dense.bhpd_dnn2, 13, 5_121), (dense.pbhpd_dnn, 13, 5_121),
    (dense.wine_dnn, 11, 4_993), (dense.lwine_mlp, 11, 18_177)])
def test_fidle_regressors_have_keras_parameter_counts(builder, features, params):
    net = builder((features,), 1)
    assert sum(p.numel() for p in net.parameters()) == params
    assert net(torch.zeros(2, features)).shape == (2, 1)


def test_a_diabetes_run_records_its_baselines_as_numpy_computes_them(tmp_path):
    cfg = compose_train(["+experiment=diabetes_dnn", "trainer.max_epochs=3",
                         f"paths.output_root={tmp_path}", f"paths.run_dir={tmp_path / 'run'}"])
    result = train(cfg)
    assert result.status == "completed" and result.task == "regression"
    assert (result.data["n_train"], result.data["n_val"], result.data["n_test"]) == (283, 71, 88)
    assert result.data["family"] == "tables" and result.data["shape"] == [10]
    # The same split and scaling rebuilt with numpy: least squares with an intercept on the
    # z-scored features of the fit rows, and their mean target.
    data = DiabetesDataModule(target="progression", test_fraction=0.2, val_fraction=0.2)
    data.setup("fit")
    (x, y), (xt, yt) = data.tensors["train"], data.tensors["test"]
    design = np.c_[x.double().numpy(), np.ones(len(x))]
    weights = np.linalg.lstsq(design, y.double().numpy(), rcond=None)[0]
    lsq = np.abs(np.c_[xt.double().numpy(), np.ones(len(xt))] @ weights - yt.numpy()).mean()
    mean = np.abs(yt.numpy() - y.double().numpy().mean()).mean()
    metrics = result.metrics
    assert metrics["test_mae_least_squares"] == pytest.approx(lsq, rel=1e-4)
    assert metrics["test_mae_mean"] == pytest.approx(mean, rel=1e-5)
    assert result.primary["baselines"] == {"test_mae_mean": metrics["test_mae_mean"],
                                           "test_mae_least_squares":
                                               metrics["test_mae_least_squares"]}
    assert 40 < lsq < 50 and 55 < mean < 65, "diabetes: a line explains part of the spread"


def write_wine(path: Path, rows: int = 60) -> np.ndarray:
    """A red wine quality file in UCI's exact layout (';'-separated, quoted header), random
    values: no Wine Quality file exists in any registry here. Returns its grades."""
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 10, size=(rows, 11)).round(3)
    quality = rng.integers(3, 9, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [";".join(f'"{c}"' for c in WINE_COLUMNS)]
    lines += [";".join([*map(str, r), str(q)]) for r, q in zip(values, quality, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return quality


def test_a_wine_file_in_the_uci_layout_is_read_and_z_scored_on_train(tmp_path):
    quality = write_wine(tmp_path / "WineQuality" / "origine" / "winequality-red.csv")
    data = WineQualityDataModule(datasets_dir=str(tmp_path), target="quality",
                                 test_fraction=0.2, val_on_test=True)
    data.setup("fit")
    x, y = data.tensors["train"]
    assert x.shape == (48, 11) and data.tensors["test"][0].shape == (12, 11)
    assert torch.allclose(x.mean(0), torch.zeros(11), atol=1e-5)
    assert torch.allclose(x.std(0), torch.ones(11), atol=1e-5), "ddof 1, as pandas' std"
    split_targets = [*y.flatten().tolist(), *data.tensors["test"][1].flatten().tolist()]
    assert sorted(split_targets) == sorted(float(q) for q in quality), "targets left unscaled"


def _flowers(tmp_path, n: int = 40, **columns) -> str:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"petal": rng.normal(size=n), "colour": rng.choice(["red", "blue"], n),
                          "species": rng.choice(["iris", "rose", "tulip"], n), **columns})
    path = tmp_path / "flowers.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_a_csv_classification_one_hot_encodes_text_and_keeps_its_encoding(tmp_path):
    data = CSVTableDataModule(_flowers(tmp_path), "species", task="classification")
    data.setup("fit")
    assert data.class_names == ["iris", "rose", "tulip"] and data.n_outputs == 3
    assert data.encoding.feature_names == ["petal", "colour=blue", "colour=red"]
    state = data.kept_state()
    fresh = CSVTableDataModule(_flowers(tmp_path), "species", task="classification")
    fresh.load_state_dict(state)
    rows = pd.DataFrame({"colour": ["red", "green"], "petal": [0.0, 1.0]})
    encoded = fresh.encode_rows(rows)
    petal = state["encoding"]["numeric"][0]
    assert encoded[:, 1:].tolist() == [[0.0, 1.0], [0.0, 0.0]], "unseen green: no category"
    assert encoded[1, 0].item() == pytest.approx((1 - petal["mean"]) / petal["std"], rel=1e-6)


def _numbered(tmp_path, n: int = 60) -> tuple[str, pd.DataFrame]:
    """A regression CSV whose target is each row's number, so the targets a split holds name its
    rows; `size` has gaps in a third of the rows, `weight` none."""
    rng = np.random.default_rng(2)
    size = rng.normal(10.0, 3.0, n)
    size[rng.permutation(n)[: n // 3]] = np.nan
    frame = pd.DataFrame({"size": size, "weight": rng.exponential(5.0, n),
                          "row": np.arange(n, dtype=float)})
    path = tmp_path / "numbered.csv"
    frame.to_csv(path, index=False)
    return str(path), frame


def _rows(data: CSVTableDataModule, split: str) -> np.ndarray:
    return data.tensors[split][1][:, 0].numpy().astype(int)


def test_the_encoding_is_fitted_on_the_training_rows_only(tmp_path):
    path, frame = _numbered(tmp_path)
    data = CSVTableDataModule(path, "row", missing="median", test_fraction=0.25,
                              val_fraction=0.3)
    data.setup("fit")
    training, validation = _rows(data, "train"), _rows(data, "val")
    assert len(training) == 31 and len(validation) == 14
    numeric = {c["name"]: c for c in data.encoding.numeric}
    for name in ("size", "weight"):
        values = frame[name].to_numpy()
        assert numeric[name]["mean"] == pytest.approx(np.nanmean(values[training]), rel=1e-12)
        assert numeric[name]["std"] == pytest.approx(np.nanstd(values[training], ddof=1),
                                                     rel=1e-12)
        assert numeric[name]["median"] == pytest.approx(np.nanmedian(values[training]),
                                                        rel=1e-12)
        with_validation = np.concatenate([training, validation])
        assert numeric[name]["mean"] != pytest.approx(np.nanmean(values[with_validation]))
    # Under val_on_test, every train row trains: the statistics are all of train's.
    on_test = CSVTableDataModule(path, "row", missing="median", test_fraction=0.25,
                                 val_on_test=True)
    on_test.setup("fit")
    train = _rows(on_test, "train")
    assert len(train) == 45
    assert on_test.encoding.numeric[1]["mean"] == pytest.approx(
        frame["weight"].to_numpy()[train].mean(), rel=1e-12)
    # The kept state is what a rebuild of the same data computes again.
    again = CSVTableDataModule(path, "row", missing="median", test_fraction=0.25,
                               val_fraction=0.3)
    again.setup("fit")
    again.load_state_dict(data.state_dict())


def test_missing_values_are_refused_or_take_train_medians(tmp_path):
    gaps = np.where(np.arange(40) % 2 == 0, np.nan, np.linspace(0.0, 1.0, 40))
    with pytest.raises(UserError, match=r"missing feature values .petal_gap 20 of 40 rows"):
        CSVTableDataModule(_flowers(tmp_path, petal_gap=gaps), "species",
                           task="classification").setup("fit")
    path, frame = _numbered(tmp_path)
    data = CSVTableDataModule(path, "row", missing="median", test_fraction=0.25,
                              val_fraction=0.3)
    data.setup("fit")
    assert data.encoding.feature_names == ["size", "weight", "size_missing"]
    size = data.encoding.numeric[0]
    for split in ("train", "val", "test"):
        rows, x = _rows(data, split), data.tensors[split][0].double().numpy()
        raw = frame["size"].to_numpy()[rows]
        gap = np.isnan(raw)
        assert gap.any() and (~gap).any()
        assert x[:, 2].tolist() == gap.astype(float).tolist(), "1 where missing, else 0"
        filled = x[:, 0] * size["std"] + size["mean"]
        np.testing.assert_allclose(filled[gap], size["median"], rtol=1e-6)
        np.testing.assert_allclose(filled[~gap], raw[~gap], rtol=1e-6)
    training = frame["size"].to_numpy()[_rows(data, "train")]
    assert size["median"] == np.nanmedian(training), "the training rows' median"
    with_validation = frame["size"].to_numpy()[np.r_[_rows(data, "train"), _rows(data, "val")]]
    assert size["median"] != np.nanmedian(with_validation)


@pytest.mark.parametrize(("change", "message"), [
    ("no_file", "no CSV file at"),
    ("no_target", "has no target column 'price'"),
    ("text_target", "the regression target 'species' is text"),
    ("constant", "feature 'same' is constant over the"),
    ("few_rows", "has 3 rows: data.test_fraction=0.2"),
    ("one_class", "has one class only"),
    ("not_csv", "is not a CSV"),
])
def test_bad_tables_are_one_line_each(tmp_path, change, message):
    target, task, path = "species", "classification", _flowers(tmp_path)
    if change == "no_file":
        path = str(tmp_path / "nothing.csv")
    elif change == "no_target":
        target = "price"
    elif change == "text_target":
        task = "regression"
    elif change == "constant":
        path = _flowers(tmp_path, same=[1.0] * 40)
    elif change == "few_rows":
        path = _flowers(tmp_path, n=3)
    elif change == "one_class":
        pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "species": ["x"] * 4}).to_csv(path, index=False)
    elif change == "not_csv":
        (tmp_path / "flowers.csv").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0IHDR")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UserError, match=message) as caught:
        CSVTableDataModule(path, target, task=task).setup("fit")
    assert "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing written"


def test_fidle_files_missing_name_where_they_were_looked_for(tmp_path):
    with pytest.raises(UserError, match=r"no red wine quality CSV at .*winequality-red.csv"):
        WineQualityDataModule(datasets_dir=str(tmp_path), target="quality").setup("fit")


def test_a_classification_on_a_csv_trains_and_gets_the_classification_analysis(tmp_path):
    """The issue's own command (data=csv_table ... model=mlp task=classification), then the
    report's classification analysis of the run, with the target's values as class names and
    no picture mosaic (rows are no images)."""
    rng = np.random.default_rng(2)
    petal = rng.normal(size=120)
    frame = pd.DataFrame({"petal": petal, "colour": rng.choice(["red", "blue"], 120),
                          "species": np.where(petal > 0.3, "rose",
                                              np.where(petal < -0.3, "iris", "tulip"))})
    frame.to_csv(tmp_path / "flowers.csv", index=False)
    run_dir = tmp_path / "run"
    result = train(compose_train([
        "data=csv_table", f"data.path={tmp_path / 'flowers.csv'}", "data.target=species",
        "model=mlp", "task=classification", "trainer.max_epochs=2",
        "callbacks.progress.style=lines", f"paths.run_dir={run_dir}"]))
    assert result.status == "completed" and result.task == "classification"
    assert result.data["classes"] == ["iris", "rose", "tulip"] and result.data["n_test"] == 24
    data = CSVTableDataModule(str(tmp_path / "flowers.csv"), "species", task="classification")
    data.setup("fit")
    majority = torch.bincount(data.tensors["train"][1]).argmax()
    assert result.metrics["test_acc_majority"] == pytest.approx(
        float((data.tensors["test"][1] == majority).float().mean())), "the train majority"
    page, done = ANALYSES["classification"](read_result(run_dir), run_dir, "mlp on flowers")
    assert done == "24 test samples evaluated, cached"
    assert f"on 24 test samples: accuracy {100 * result.primary['value']:.2f} %" in page
    assert "confusion matrix, mlp on flowers" in page and "misclassified test images" not in page
