"""Alignment diagnostics, the equation trace, and the figures."""

import io

import numpy
import pytest

import minifa
from minifa.diagnostics import Diagnostics, angle, diagnose


def small_problem(seed=0, n=64):
    rng = numpy.random.default_rng(seed)
    x = rng.random((n, 12), dtype=numpy.float32)
    y = rng.integers(0, 4, n)
    return x, y


def by_layer(rows):
    return {row["layer"]: row for row in rows}


def test_angle_basics():
    a = numpy.array([1.0, 0.0])
    assert float(angle(a, a)) == 0.0
    assert float(angle(a, numpy.array([0.0, 3.0]))) == pytest.approx(90.0)
    assert float(angle(a, -a)) == pytest.approx(180.0)
    rng = numpy.random.default_rng(0)
    big = rng.standard_normal((2, 400, 300))
    assert abs(float(angle(big[0], big[1])) - 90.0) < 1.0  # independent: near 90


@pytest.mark.parametrize("rule", ["fa", "kp", "wm"])
def test_angles_are_zero_when_B_is_W_T(rule):
    model = minifa.mlp([12, 10, 8, 4], rule=rule, seed=0, dtype="float64")
    for layer in model.layers[::2]:
        layer.B[...] = layer.W.T
    x, y = small_problem()
    rows = by_layer(diagnose(model, x.astype("float64"), y))
    for i in (1, 2, 3):
        assert rows[i]["delta_angle"] == pytest.approx(0.0, abs=1e-5)
        assert rows[i]["update_angle"] == pytest.approx(0.0, abs=1e-5)
    for i in (2, 3):
        assert rows[i]["weight_angle"] == pytest.approx(0.0, abs=1e-5)
        assert rows[i]["signal_angle"] == pytest.approx(0.0, abs=1e-5)
        assert rows[i]["norm_ratio"] == pytest.approx(1.0)
        assert rows[i]["sign_agreement"] == 1.0


def test_fresh_fa_is_near_90_degrees_and_first_layer_feedback_is_unused():
    model = minifa.mlp([300, 400, 400, 10], rule="fa", seed=0, dtype="float64")
    x, y = small_problem(n=64)
    x = numpy.random.default_rng(1).random((64, 300))
    rows = by_layer(diagnose(model, x, y))
    assert abs(rows[2]["weight_angle"] - 90.0) < 3.0
    assert abs(rows[3]["weight_angle"] - 90.0) < 5.0
    assert rows[3]["delta_angle"] == 0.0  # the output layer's delta is e under every rule
    assert rows[1]["feedback_used"] is False
    assert numpy.isnan(rows[1]["weight_angle"]) and numpy.isnan(rows[1]["signal_angle"])


def test_usf_signs_always_agree_and_dfa_reports_its_signal():
    x, y = small_problem()
    usf = by_layer(diagnose(minifa.mlp([12, 10, 8, 4], rule="usf", seed=0), x, y))
    assert usf[2]["sign_agreement"] == 1.0 and usf[3]["sign_agreement"] == 1.0
    dfa = by_layer(diagnose(minifa.mlp([12, 10, 8, 4], rule="dfa", seed=0), x, y))
    assert numpy.isnan(dfa[2]["weight_angle"])  # B_2 is (k, in): nothing to compare with W.T
    assert 0.0 < dfa[2]["signal_angle"] < 180.0


@pytest.mark.parametrize("rule", ["fa", "brsf", "wm", "kp", "drtp"])
def test_diagnostics_do_not_change_training(rule):
    x, y = small_problem(n=256)
    histories = []
    for diagnostics in (None, Diagnostics(x[:32], y[:32], every=3)):
        model = minifa.mlp([12, 10, 8, 4], rule=rule, seed=0)
        loader = minifa.DataLoader(x, y, batch_size=16, seed=1)
        h = minifa.train(model, minifa.Adam(model.parameters()), loader, epochs=2,
                         test=(x[:64], y[:64]), diagnostics=diagnostics)
        histories.append((h, [p.value.copy() for p in model.parameters()], diagnostics))
    (plain, w_plain, _), (diag, w_diag, d) = histories
    core = ["epoch", "loss_train", "loss_test", "acc_train", "acc_test"]
    assert plain[core].equals(diag[core])
    for a, b in zip(w_plain, w_diag):
        numpy.testing.assert_array_equal(a, b)
    assert "delta_angle_2" in diag.columns and "weight_angle_3" in diag.columns
    frame = d.frame()
    assert sorted(frame["step"].unique()) == [0, 3, 6, 9, 12, 15, 16]
    assert set(frame["layer"]) == {1, 2, 3}


@pytest.mark.parametrize("rule, feedback", [
    ("bp", "(delta_2 @ W_2.T)"), ("fa", "(delta_2 @ B_2)"), ("dfa", "(e @ B_2)"),
    ("drtp", "(y* @ B_2)"), ("usf", "(delta_2 @ (sign(W_2).T * std(W_2)))"),
    ("frsf", "(delta_2 @ (|R_2| * sign(W_2).T))"), ("brsf", "(delta_2 @ (|R_t| * sign(W_2).T))"),
    ("kp", "(delta_2 @ B_2)"), ("wm", "(delta_2 @ B_2)"),
])
def test_trace_names_the_right_matrices(rule, feedback):
    out = io.StringIO()
    minifa.mlp([784, 128, 64, 10], rule=rule).explain(batch_size=64, file=out)
    lines = out.getvalue().splitlines()
    delta_1 = next(line for line in lines if line.startswith("delta_1 ="))
    assert delta_1.startswith(f"delta_1 = {feedback} * 1[z_1 > 0]")
    left = "(64,10)" if rule in ("dfa", "drtp") else "(64,64)"
    matrix = "(10,128)" if rule in ("dfa", "drtp") else "(64,128)"
    assert delta_1.endswith(f"(64,128) = {left} @ {matrix} * (64,128)")
    assert "dW_1 = x.T @ delta_1    (784,128) = (64,784).T @ (64,128)" in lines


def test_figures_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    from minifa import plots

    x, y = small_problem(n=128)
    model = minifa.mlp([12, 10, 8, 4], rule="fa", seed=0)
    h = minifa.train(model, minifa.Adam(model.parameters()),
                     minifa.DataLoader(x, y, batch_size=16), epochs=2, test=(x, y),
                     diagnostics=Diagnostics(x[:32], y[:32]))
    plots.learning_curves(h, tmp_path / "curves.png")
    plots.alignment(h, tmp_path / "alignment.png")
    h2 = h.assign(rule="fa")
    plots.compare(h2, tmp_path / "compare.png")
    for name in ("curves.png", "alignment.png", "compare.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alignment.png", "compare.png",
                                                           "curves.png"]
