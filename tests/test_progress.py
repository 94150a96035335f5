"""The live step/ETA line: on a terminal only, erased before each row, never in the
history, the CSV or a log."""

import io
import sys

import numpy
import pytest

import minifa
from minifa import progress
from minifa.progress import Progress, clock_time


class Terminal(io.StringIO):
    def isatty(self):
        return True


def fit(epochs=2):
    rng = numpy.random.default_rng(0)
    x, y = rng.integers(0, 256, (320, 784), dtype=numpy.uint8), rng.integers(0, 10, 320)
    model = minifa.mlp([784, 16, 10], seed=0)
    loader = minifa.DataLoader(x, y, batch_size=64, seed=0, scale=255)
    rows = []
    history = minifa.train(model, minifa.Adam(model.parameters()), loader, epochs=epochs,
                           on_epoch=lambda row: rows.append(sys.stderr.getvalue()
                                                            if hasattr(sys.stderr, "getvalue")
                                                            else ""))
    return history, rows


@pytest.fixture
def at_once(monkeypatch):
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setattr(progress, "EVERY", 0.0)


def test_a_terminal_sees_step_and_eta_erased_before_each_row(monkeypatch, at_once):
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    history, seen_at_rows = fit()
    text = term.getvalue()
    assert "\repoch 1/2  step 1/5  ETA 0:00" in text
    assert "\repoch 2/2  step 5/5  ETA 0:00" in text
    assert "\n" not in text  # one line, rewritten in place
    for seen in seen_at_rows:  # when each row is handed over, the line is blank
        assert seen.endswith("\r") and seen.rsplit("\r", 2)[-2].strip() == ""
    assert list(history.columns) == ["epoch", "loss_train", "loss_test", "acc_train",
                                     "acc_test", "seconds"]


def test_nothing_is_written_when_stderr_is_not_a_terminal(capsys, at_once):
    history, _ = fit()
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert len(history) == 2


def test_short_epochs_show_nothing(monkeypatch):
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    fit()  # well under progress.DELAY per epoch
    assert term.getvalue() == ""


def test_the_line_counts_from_a_resumed_step_and_estimates_the_rest():
    term, now = Terminal(), [100.0]
    p = Progress(3, 10, stream=term, clock=lambda: now[0])
    p.start(2, 4)  # epoch 2 resumed after step 4
    now[0] += 2.0  # 2 s for steps 5 and 6: 1 s a step, 4 to go
    p.update(6)
    assert term.getvalue() == "\repoch 2/3  step 6/10  ETA 0:04"
    p.clear()
    assert term.getvalue().endswith("\r" + " " * len("epoch 2/3  step 6/10  ETA 0:04") + "\r")
    p.clear()  # nothing shown: nothing written
    assert term.getvalue().count("\r") == 3


def test_a_stop_erases_the_line(monkeypatch, at_once):
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    rng = numpy.random.default_rng(0)
    x, y = rng.standard_normal((128, 6)).astype(numpy.float32), rng.integers(0, 3, 128)
    model = minifa.mlp([6, 32, 32, 3], seed=0)
    loader = minifa.DataLoader(x, y, batch_size=16)
    with pytest.raises(minifa.TrainingStopped, match="diverged"):
        minifa.train(model, minifa.Adam(model.parameters(), lr=1e30), loader, epochs=3)
    text = term.getvalue()
    assert "step" in text and text.endswith("\r") and text.rsplit("\r", 2)[-2].strip() == ""


def test_clock_time():
    assert [clock_time(s) for s in (0, 59.4, 61, 3599, 3600, 7322)] == \
        ["0:00", "0:59", "1:01", "59:59", "1:00:00", "2:02:02"]
