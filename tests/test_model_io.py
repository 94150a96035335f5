"""Models users keep: summary, predict in batches, weights saved and loaded exactly."""

import os

import numpy
import pytest

import minifa
from minifa.convnet import lenet
from minifa.errors import DataError, InputError

SIZES = [12, 9, 7, 3]


def data(n=50, features=12, seed=0):
    rng = numpy.random.default_rng(seed)
    return (rng.standard_normal((n, features)).astype(numpy.float32),
            rng.integers(0, 3, n))


def trained(rule, seed=0):
    model = minifa.mlp(SIZES, rule=rule, seed=seed)
    x, y = data()
    opt = minifa.Adam(model.parameters(), lr=1e-2, weight_decay=0.0)
    minifa.train(model, opt, minifa.DataLoader(x, y, batch_size=10, seed=seed), epochs=2)
    return model


@pytest.mark.parametrize("rule", list(minifa.RULES))
def test_saved_then_loaded_model_predicts_exactly_as_the_original(tmp_path, rule):
    model = trained(rule)
    x, _ = data(n=37, seed=1)
    before = model.predict(x, batch_size=8)
    logits = model.forward(x)
    model.save(tmp_path / "w.npz")
    fresh = minifa.mlp(SIZES, rule=rule, seed=99)  # other weights, other feedback
    assert not numpy.array_equal(fresh.forward(x), logits)
    minifa.load_weights(fresh, tmp_path / "w.npz")
    numpy.testing.assert_array_equal(fresh.predict(x, batch_size=8), before)
    numpy.testing.assert_array_equal(fresh.forward(x), logits)  # bit for bit
    for a, b in zip(model.layers, fresh.layers):  # the feedback travelled too
        if hasattr(a, "B"):
            numpy.testing.assert_array_equal(a.B, b.B)
    assert os.listdir(tmp_path) == ["w.npz"]


def test_loading_keeps_an_optimizer_working(tmp_path):
    model = trained("fa")
    model.save(tmp_path / "w.npz")
    fresh = minifa.mlp(SIZES, rule="fa", seed=5)
    opt = minifa.Adam(fresh.parameters(), lr=1e-2)
    fresh.load_weights(tmp_path / "w.npz")  # in place: the optimizer's views still see W
    x, y = data()
    minifa.train(fresh, opt, minifa.DataLoader(x, y, batch_size=10), epochs=1)
    assert not numpy.array_equal(fresh.layers[0].W, model.layers[0].W)


def test_conv_net_round_trip(tmp_path):
    model = lenet((3, 12, 12), n_classes=4, rule="fa", seed=1)
    x = numpy.random.default_rng(0).integers(0, 256, (6, 432), dtype=numpy.uint8)
    before = model.predict(x, scale=255)
    model.save(tmp_path / "conv.npz")
    other = lenet((3, 12, 12), n_classes=4, rule="fa", seed=2).load_weights(tmp_path / "conv.npz")
    numpy.testing.assert_array_equal(other.predict(x, scale=255), before)


def test_predict_equals_argmax_of_forward_in_any_batching():
    model = trained("dfa")
    x, _ = data(n=23, seed=2)
    whole = model.forward(x).argmax(axis=1)
    for bs in (1, 5, 23, 1000):
        out = model.predict(x, batch_size=bs)
        assert out.dtype == numpy.int64 and out.shape == (23,)
        numpy.testing.assert_array_equal(out, whole)
    pixels = numpy.random.default_rng(3).integers(0, 256, (9, 12), dtype=numpy.uint8)
    numpy.testing.assert_array_equal(
        model.predict(pixels, batch_size=4, scale=255),
        model.forward(numpy.divide(pixels, numpy.float32(255), dtype=numpy.float32))
        .argmax(axis=1))


@pytest.mark.parametrize(("call", "match"), [
    (lambda m: m.predict(numpy.zeros((3, 5), numpy.float32)), "(samples, 12)"),
    (lambda m: m.predict(numpy.zeros((3, 12), numpy.uint8)), "give scale="),
    (lambda m: m.predict(numpy.zeros((3, 12), numpy.float32), scale=255), "give scale="),
    (lambda m: m.predict(numpy.zeros((3, 12), numpy.float32), batch_size=0), "at least 1"),
])
def test_predict_refuses_bad_input(call, match):
    with pytest.raises(InputError) as excinfo:
        call(minifa.mlp(SIZES, rule="fa"))
    assert match in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_load_refuses_another_model_with_one_line_before_copying(tmp_path):
    model = minifa.mlp(SIZES, rule="fa")
    model.save(tmp_path / "w.npz")
    other = minifa.mlp([12, 8, 7, 3], rule="fa", seed=3)
    w = other.layers[0].W.copy()
    with pytest.raises(DataError) as excinfo:
        other.load_weights(tmp_path / "w.npz")
    msg = str(excinfo.value)
    assert "layer 1 is FALinear(12, 9) there but FALinear(12, 8) here" in msg and "\n" not in msg
    numpy.testing.assert_array_equal(other.layers[0].W, w)
    with pytest.raises(DataError, match="rule 'fa', this model uses 'bp'"):
        minifa.mlp(SIZES, rule="bp").load_weights(tmp_path / "w.npz")


@pytest.mark.parametrize("damage", ["truncate", "junk", "missing"])
def test_load_refuses_damaged_files(tmp_path, damage):
    path = tmp_path / "w.npz"
    if damage != "missing":
        minifa.mlp(SIZES, rule="fa").save(path)
        blob = path.read_bytes()
        path.write_bytes(blob[: len(blob) // 2] if damage == "truncate" else b"junk" * 10)
    with pytest.raises(DataError) as excinfo:
        minifa.mlp(SIZES, rule="fa").load_weights(path)
    msg = str(excinfo.value)
    assert "\n" not in msg and str(path) in msg
    assert ("no weights file" if damage == "missing" else "truncated or corrupt") in msg


def test_save_refuses_a_missing_folder(tmp_path):
    with pytest.raises(InputError, match="folder does not exist"):
        minifa.mlp(SIZES).save(tmp_path / "no" / "w.npz")
    assert os.listdir(tmp_path) == []


def test_save_refuses_a_folder_before_writing(tmp_path):
    (tmp_path / "w.npz").mkdir()
    with pytest.raises(InputError, match="it is a folder; name a file in it"):
        minifa.mlp(SIZES).save(tmp_path / "w.npz")
    assert os.listdir(tmp_path) == ["w.npz"] and os.listdir(tmp_path / "w.npz") == []


def test_a_checkpoint_loads_as_weights(tmp_path):
    model = minifa.mlp(SIZES, rule="kp", seed=0)
    x, y = data()
    opt = minifa.Adam(model.parameters(), lr=1e-2)
    minifa.train(model, opt, minifa.DataLoader(x, y, batch_size=10), epochs=1,
                 checkpoint=str(tmp_path / "run.npz"))
    fresh = minifa.mlp(SIZES, rule="kp", seed=4).load_weights(tmp_path / "run.npz")
    numpy.testing.assert_array_equal(fresh.predict(x), model.predict(x))


def test_summary_counts_layers_parameters_and_feedback():
    text = minifa.mlp([784, 128, 64, 10], rule="dfa").summary()
    lines = text.splitlines()
    assert lines[0] == "Sequential: rule dfa, float32 on numpy, input (n, 784)"
    row = next(line for line in lines if line.startswith("1 "))
    assert row.split()[1:] == ["DFALinear(784,", "128)", "(n,", "128)", "100,480", "7,840"]
    assert "trained parameters: 109,386 in 6 arrays" in text
    assert "feedback (not trained by the optimizer): 9,760 in 3 arrays" in text  # B: k x in
    conv = lenet((3, 32, 32), rule="bp").summary()
    assert "(n, 16, 6, 6)" in conv and "(n, 576)" in conv
    assert "feedback (not trained by the optimizer): 0 in 0 arrays" in conv
    kp = minifa.mlp([784, 128, 64, 10], rule="kp").summary()
    assert "trained parameters: 118,218 in 8 arrays" in kp  # KP trains B above layer 1
    assert "layer 1 sends no delta" in kp
