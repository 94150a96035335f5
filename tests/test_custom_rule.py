"""The rule written from scratch in examples/custom_rule.py, tested the way
docs/writing-a-rule.md tells a user to test theirs."""

from pathlib import Path

import example_scripts
import numpy
import pytest

import minifa
from minifa.gradcheck import check_feedback, check_layer, check_model

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "custom_rule.py"


def load_example():
    return example_scripts.load_example("custom_rule")


example = load_example()
NoisyFeedbackLinear = example.NoisyFeedbackLinear


@pytest.fixture
def x():
    return numpy.random.default_rng(0).standard_normal((4, 6))


@pytest.mark.parametrize("sigma", [0.0, 1.0])
def test_forward_and_weight_gradients_are_exact_at_any_sigma(x, sigma):
    check_layer(NoisyFeedbackLinear(6, 3, sigma, rng=1, feedback_rng=2, dtype="float64"), x)


def test_sigma_zero_is_backprop_and_any_noise_is_not(x):
    check_feedback(NoisyFeedbackLinear(6, 3, 0.0, rng=1, feedback_rng=2, dtype="float64"), x)
    with pytest.raises(minifa.GradientCheckError, match="angle between them"):
        check_feedback(NoisyFeedbackLinear(6, 3, 0.1, rng=1, feedback_rng=2, dtype="float64"), x)


def test_a_sigma_zero_model_has_backprops_gradients(x):
    model = example.noisy_mlp([6, 5, 4, 3], 0.0, seed=0, dtype="float64")
    check_model(model, x, numpy.array([0, 1, 2, 1]))


def test_same_seed_same_forward_weights_as_mlp():
    noisy = example.noisy_mlp([6, 5, 3], 1.0, seed=4)
    fa = minifa.mlp([6, 5, 3], rule="fa", seed=4)
    for a, b in zip(noisy.layers[::2], fa.layers[::2]):
        numpy.testing.assert_array_equal(a.W, b.W)
        numpy.testing.assert_array_equal(a.N, b.B)  # N is drawn as FA draws B


def test_its_noise_is_checkpointed_and_it_explains_itself(capsys):
    model = example.noisy_mlp([6, 5, 3], 2.0, seed=0)
    minifa.checkpoint.check_savable(model)
    assert minifa.checkpoint.architecture(model)[2][1] == {"W": [5, 3], "b": [3], "N": [3, 5]}
    model.explain(8)
    assert "delta_2 @ (W_2.T + sigma N_2)" in capsys.readouterr().out


def test_the_experiment_runs_offline(tmp_path, capsys):
    table = example.main(["--data", "mnist-small", "--epochs", "1", "--sigmas", "0", "4",
                          "--csv", str(tmp_path / "sigma.csv")])
    out = capsys.readouterr().out
    assert table == 0 and "sigma 0" in out and "sigma 4" in out and " fa " in out
    rows = (tmp_path / "sigma.csv").read_text().splitlines()
    assert rows[0] == "rule,acc_test,delta_angle_1,delta_angle_2" and len(rows) == 4
    angles = [float(r.split(",")[2]) for r in rows[1:]]
    assert angles[0] < 0.1 < 10 < angles[1]  # sigma 0 is backprop (to float32), 4 is not
