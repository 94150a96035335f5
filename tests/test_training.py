"""End to end on the embedded MNIST subset (offline), and the training API."""

import warnings

import numpy
import pandas
import pytest

import minifa


@pytest.fixture(scope="module")
def small():
    return minifa.load_mnist("mnist-small", seed=0)


def fit(ds, rule, epochs, seed=0):
    model = minifa.mlp([784, 128, 64, 10], rule=rule, seed=seed)
    loader = minifa.DataLoader(ds.x_train, ds.y_train, batch_size=64,
                               seed=minifa.streams(seed).shuffle)
    return minifa.train(model, minifa.Adam(model.parameters()), loader, epochs=epochs,
                        test=(ds.x_test, ds.y_test))


# Seed 0 reaches 0.924 (BP) and 0.845 (FA) at epoch 10; FA starts slowly because
# W must first come to align with B, and the subset gives only 62 steps an epoch.
@pytest.mark.parametrize("rule, floor", [("bp", 0.90), ("fa", 0.80)])
def test_reference_mlp_learns_the_embedded_subset(small, rule, floor):
    history = fit(small, rule, epochs=10)
    assert list(history.columns) == ["epoch", "loss_train", "loss_test", "acc_train",
                                     "acc_test", "seconds"]
    assert len(history) == 10 and (history["seconds"] > 0).all()
    assert history["acc_test"].iloc[-1] >= floor
    assert history["loss_train"].iloc[-1] < history["loss_train"].iloc[0]


def test_same_seed_same_history(small):
    a = fit(small, "fa", epochs=1).drop(columns="seconds")
    b = fit(small, "fa", epochs=1).drop(columns="seconds")
    c = fit(small, "fa", epochs=1, seed=1).drop(columns="seconds")
    pandas.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_evaluate_counts_every_sample():
    model = minifa.mlp([3, 2], rule="bp", seed=0)
    model.layers[0].W[:] = numpy.array([[1, 0], [0, 1], [0, 0]], dtype="float32")
    x = numpy.array([[1, 0, 0], [0, 1, 0], [0, 2, 0]], dtype="float32")
    result = minifa.evaluate(model, x, numpy.array([0, 1, 0]), batch_size=2)
    assert result["acc"] == pytest.approx(2 / 3)


def test_dataloader_shuffles_per_epoch_and_drops_last():
    x = numpy.arange(10, dtype="float32").reshape(10, 1)
    y = numpy.arange(10)
    loader = minifa.DataLoader(x, y, batch_size=3, seed=0)
    assert len(loader) == 3
    first, second = [numpy.concatenate([b[1] for b in loader]) for _ in range(2)]
    assert len(first) == 9 and len(set(first)) == 9
    assert not numpy.array_equal(first, second)  # a fresh permutation each epoch
    again = [numpy.concatenate([b[1] for b in minifa.DataLoader(x, y, batch_size=3, seed=0)])]
    numpy.testing.assert_array_equal(first, again[0])
    ordered = minifa.DataLoader(x, y, batch_size=4, shuffle=False, drop_last=False)
    assert [len(b[1]) for b in ordered] == [4, 4, 2]


def test_float64_training_runs_in_float64():
    rng = numpy.random.default_rng(0)
    x, y = rng.random((64, 5)), rng.integers(0, 2, 64)
    model = minifa.mlp([5, 4, 2], rule="fa", seed=0, dtype="float64")
    loader = minifa.DataLoader(x, y, batch_size=16)
    minifa.train(model, minifa.Adam(model.parameters()), loader, epochs=1)
    assert all(p.value.dtype == numpy.float64 for p in model.parameters())


def tiny(n=96, width=6, k=3, seed=0):
    rng = numpy.random.default_rng(seed)
    return rng.random((n, width), dtype=numpy.float32), rng.integers(0, k, n)


def test_an_infinite_test_loss_stops_training_with_the_finished_epochs():
    """The guard reads every loss it prints: here the training loss stays finite and
    only the test inputs, huge but finite, overflow the logits."""
    x, y = tiny()
    model = minifa.mlp([6, 5, 3], rule="fa", seed=0)
    loader = minifa.DataLoader(x, y, batch_size=16)
    huge = (x * numpy.float32(3e38)).astype(numpy.float32)
    with pytest.raises(minifa.TrainingStopped, match=r"diverged in epoch 1: the test loss is "
                                                     r"(nan|inf); lower the learning rate lr "
                                                     r"\(--lr\)") as info:
        minifa.train(model, minifa.Adam(model.parameters()), loader, epochs=3, test=(huge, y))
    assert "\n" not in str(info.value) and len(info.value.history) == 0


@pytest.mark.parametrize("lr, what", [(1e9, "Adam's running averages overflowed"),
                                      (1e30, "the training loss became NaN or infinite")])
def test_divergence_is_one_error_and_no_warnings(lr, what):
    """lr 1e9 keeps the losses finite (about 1e30) while Adam's squared gradients overflow;
    1e30 makes the loss itself NaN. Either way: one TrainingStopped in epoch 1 that says
    which, and no RuntimeWarning."""
    x, y = tiny()
    model = minifa.mlp([6, 32, 32, 3], rule="fa", seed=0)
    loader = minifa.DataLoader(x, y, batch_size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(minifa.TrainingStopped, match=rf"diverged in epoch 1: {what}") as info:
            minifa.train(model, minifa.Adam(model.parameters(), lr=lr), loader, epochs=3,
                         test=(x, y))
    assert str(info.value).endswith(f"lower the learning rate lr (--lr), now {lr:g}")


def test_interrupted_training_hands_back_the_finished_epochs(monkeypatch, tmp_path):
    import os
    import signal

    from minifa import training

    x, y = tiny()
    real_step, steps = training.train_step, {"n": 0}

    def step_then_ctrl_c(*args):
        steps["n"] += 1
        if steps["n"] == 8:  # epoch 2 of 6 steps each
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args)

    monkeypatch.setattr(training, "train_step", step_then_ctrl_c)
    monkeypatch.chdir(tmp_path)  # where minifa-interrupted.npz goes
    model = minifa.mlp([6, 5, 3], rule="fa", seed=0)
    with pytest.raises(minifa.TrainingStopped, match="resume=True") as info:
        minifa.train(model, minifa.Adam(model.parameters()),
                     minifa.DataLoader(x, y, batch_size=16), epochs=3, test=(x, y))
    assert info.value.interrupted and list(info.value.history["epoch"]) == [1]


def test_api_errors_name_the_argument():
    x, y = tiny(n=10)
    with pytest.raises(minifa.InputError, match=r"lower batch_size \(--batch-size\) or keep "
                                                r"the partial batch \(drop_last=False"):
        minifa.DataLoader(x, y, batch_size=20)
    assert len(minifa.DataLoader(x, y, batch_size=20, drop_last=False)) == 1


def test_test_data_of_another_dtype_is_refused_before_any_step():
    rng = numpy.random.default_rng(0)
    x, y = rng.random((64, 6), dtype=numpy.float32), rng.integers(0, 3, 64)
    model = minifa.mlp([6, 8, 3], seed=0)
    before = model.layers[0].W.copy()
    with pytest.raises(minifa.InputError, match=r"test data: x is float64 but the model holds "
                                                r"float32 weights: convert it once with "
                                                r"\.astype\('float32'\)"):
        minifa.train(model, minifa.Adam(model.parameters()),
                     minifa.DataLoader(x, y, batch_size=16), epochs=1,
                     test=(x.astype(numpy.float64), y))
    assert numpy.array_equal(model.layers[0].W, before)  # nothing trained
