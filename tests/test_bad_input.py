"""Every bad input a user can meet: one clear line, and no partial file."""

import numpy
import pytest

import minifa


def one_line(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def model_and_data(n=32):
    rng = numpy.random.default_rng(0)
    return (minifa.mlp([6, 4, 3], rule="fa", seed=0), rng.random((n, 6), dtype=numpy.float32),
            rng.integers(0, 3, n))


def test_wrong_input_width():
    model, x, _ = model_and_data()
    with pytest.raises(minifa.InputError, match=r"expects input of shape \(batch, 6\)") as e:
        model.forward(x[:, :5])
    one_line(e)


def test_wrong_input_dtype():
    model, x, _ = model_and_data()
    with pytest.raises(minifa.InputError, match="float32 weights but got float64") as e:
        model.forward(x.astype("float64"))
    one_line(e)


def test_training_data_width_checked_at_entry():
    model, x, y = model_and_data()
    loader = minifa.DataLoader(x[:, :5], y, batch_size=8)
    with pytest.raises(minifa.InputError, match="5 features but the model expects 6"):
        minifa.train(model, minifa.Adam(model.parameters()), loader, epochs=1)


@pytest.mark.parametrize("bad", [numpy.nan, numpy.inf, -numpy.inf])
def test_non_finite_inputs(bad):
    _, x, y = model_and_data()
    x[3, 2] = bad
    with pytest.raises(minifa.InputError, match="1 NaN or infinite") as e:
        minifa.DataLoader(x, y, batch_size=8)
    one_line(e)


@pytest.mark.parametrize("label", [-1, 3, 10])
def test_labels_out_of_range(label):
    model, x, y = model_and_data()
    y[5] = label
    loader = minifa.DataLoader(x, y, batch_size=8)
    with pytest.raises(minifa.InputError, match="labels must be 0..2") as e:
        minifa.train(model, minifa.Adam(model.parameters()), loader, epochs=1)
    one_line(e)
    with pytest.raises(minifa.InputError, match="labels must be 0..2"):
        minifa.train(minifa.mlp([6, 3], seed=0), minifa.SGD(model.parameters()),
                     minifa.DataLoader(x, numpy.clip(y, 0, 2), batch_size=8), epochs=1,
                     test=(x, y))


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0), "batch size must be at least 1"),
    (dict(batch_size=33), "larger than the 32 samples"),
])
def test_bad_batch_sizes(kwargs, match):
    _, x, y = model_and_data()
    with pytest.raises(minifa.InputError, match=match):
        minifa.DataLoader(x, y, **kwargs)


def test_mismatched_and_empty_data():
    _, x, y = model_and_data()
    with pytest.raises(minifa.InputError, match="32 samples but y has 31 labels"):
        minifa.DataLoader(x, y[:-1])
    with pytest.raises(minifa.InputError, match="no samples"):
        minifa.DataLoader(x[:0], y[:0])
    with pytest.raises(minifa.InputError, match="must be integers"):
        minifa.DataLoader(x, y.astype("float32"))
    with pytest.raises(minifa.InputError, match="give scale="):
        minifa.DataLoader((x * 255).astype("uint8"), y)


def test_bad_model_arguments():
    with pytest.raises(minifa.InputError, match="unknown rule 'xx'"):
        minifa.mlp([4, 2], rule="xx")
    with pytest.raises(minifa.InputError, match="dtype 'float16' is not supported"):
        minifa.mlp([4, 2], dtype="float16")
    with pytest.raises(minifa.InputError, match="sizes must be positive"):
        minifa.Linear(0, 3)


def test_integer_test_pixels_are_told_to_convert_not_to_use_a_loader_option():
    x = numpy.zeros((8, 4), numpy.float32)
    y = numpy.zeros(8, numpy.int64)
    model = minifa.mlp([4, 3], seed=0)
    with pytest.raises(minifa.InputError) as info:
        minifa.train(model, minifa.SGD(model.parameters()), minifa.DataLoader(x, y, batch_size=4),
                     epochs=1, test=(x.astype(numpy.uint8), y))
    assert "test data: x is uint8; convert it to float32" in str(info.value)
    assert "scale=" not in str(info.value)
