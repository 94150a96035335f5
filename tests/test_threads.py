"""BLAS threads: scoped to each step and evaluation, restored after, overridable, and
the same run for the same seed and thread setting."""

import numpy
import pytest
import threadpoolctl
from example_scripts import load_example

import minifa
from minifa import cli, fast, threads
from minifa.layers import Layer


def blas_threads():
    return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]


class Spy(Layer):
    """Passes x through and notes the BLAS threads (and Adam's slice workers) it ran
    under."""

    def __init__(self):
        self.seen = []

    def forward(self, x):
        self.seen.append((blas_threads(), fast.workers()))
        return x

    def bp_feedback(self, delta):
        return delta


def data(n=640, seed=0):
    rng = numpy.random.default_rng(seed)
    return rng.integers(0, 256, (n, 784), dtype=numpy.uint8), rng.integers(0, 10, n)


def setup(seed=0):
    spy = Spy()
    mlp = minifa.mlp([784, 128, 64, 10], rule="fa", seed=seed)
    model = minifa.Sequential(spy, *mlp.layers)
    x, y = data()
    loader = minifa.DataLoader(x, y, batch_size=64, seed=minifa.streams(seed).shuffle,
                               scale=255)
    return model, minifa.Adam(model.parameters()), loader, spy


def run(threads_setting=None, seed=0, epochs=1):
    model, opt, loader, spy = setup(seed)
    x, y = data(200, seed=1)
    test = (numpy.divide(x, 255.0, dtype=numpy.float32), y)
    history = minifa.train(model, opt, loader, epochs=epochs, test=test, threads=threads_setting)
    return history, model, spy


def test_a_thread_count_holds_inside_the_steps_and_is_restored_after():
    before = threadpoolctl.threadpool_info()
    history, model, spy = run(threads_setting=1)
    assert threadpoolctl.threadpool_info() == before
    assert spy.seen and all(seen == ([1] * len(blas_threads()), 1) for seen in spy.seen)
    assert threads.current() is None  # no scope left open


def test_auto_leaves_the_caller_setting_alone_in_and_after_train(monkeypatch):
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    before = threadpoolctl.threadpool_info()
    with threadpoolctl.threadpool_limits(1, user_api="blas"):  # the user's own limit
        _, _, spy = run()
        assert blas_threads() == [1] * len(blas_threads())
    assert threadpoolctl.threadpool_info() == before
    assert all(seen[0] == [1] * len(blas_threads()) for seen in spy.seen)  # never raised


@pytest.fixture
def two_blas_threads():
    """The BLAS at two threads for one test (the suite runs on one, see conftest.py)."""
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        if min(blas_threads() or [0]) < 2:
            pytest.skip("this BLAS cannot run two threads here")
        yield


def test_auto_follows_the_free_cores(monkeypatch, two_blas_threads):
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    monkeypatch.setattr(threads.LOAD, "limit", lambda: 1)  # another process is busy
    before = blas_threads()
    lowered = threads.lowered()
    _, _, spy = run()
    assert all(seen == ([1] * len(before), 1) for seen in spy.seen)
    assert blas_threads() == before
    assert threads.lowered() > lowered  # counted, for the examples' note
    monkeypatch.setattr(threads.LOAD, "limit", lambda: None)  # every core free: no change
    lowered = threads.lowered()
    _, _, spy = run()
    assert all(seen[0] == before for seen in spy.seen)
    assert threads.lowered() == lowered


def test_the_examples_say_when_a_busy_machine_lowered_the_threads(monkeypatch, capsys,
                                                                   two_blas_threads):
    mnist = load_example("mnist")
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    argv = ["--data", "digits", "--sizes", "64,16,10", "--epochs", "1"]
    monkeypatch.setattr(threads.LOAD, "limit", lambda: None)  # quiet: nothing to say
    assert mnist.main(argv) == 0
    assert "note: other processes" not in capsys.readouterr().out
    monkeypatch.setattr(threads.LOAD, "limit", lambda: 1)  # busy: auto lowers, and says so
    assert mnist.main(argv) == 0
    assert "note: other processes kept the cores busy" in capsys.readouterr().out
    assert mnist.main(argv + ["--threads", "2"]) == 0  # a fixed count is never lowered
    assert "note: other processes" not in capsys.readouterr().out


def test_compare_rules_says_when_a_busy_machine_lowered_the_threads(monkeypatch, capsys,
                                                                   two_blas_threads):
    compare = load_example("compare_rules")
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    argv = ["--data", "digits", "--sizes", "64,16,10", "--epochs", "1", "--rules", "bp,fa"]
    monkeypatch.setattr(threads.LOAD, "limit", lambda: None)  # quiet: nothing to say
    assert compare.main(argv) == 0
    assert "note: other processes" not in capsys.readouterr().out
    monkeypatch.setattr(threads.LOAD, "limit", lambda: 1)  # busy: the digits and times move
    assert compare.main(argv) == 0
    assert "note: other processes kept the cores busy" in capsys.readouterr().out


def test_the_environment_variable_sets_the_threads_and_bad_values_are_refused(monkeypatch):
    monkeypatch.setenv(threads.ENV_VAR, "1")
    _, _, spy = run()
    assert all(seen[0] == [1] * len(blas_threads()) for seen in spy.seen)
    monkeypatch.setenv(threads.ENV_VAR, "two")
    model, opt, loader, spy = setup()
    with pytest.raises(minifa.InputError, match=r"\$MINIFA_THREADS must be a positive "
                                                r"integer or 'auto', got 'two'"):
        minifa.train(model, opt, loader, epochs=1)
    assert spy.seen == []  # refused before any step
    for bad in (0, -1, 1.5, "0", True):
        with pytest.raises(minifa.InputError, match="threads must be a positive integer"):
            threads.setting(bad)
    assert threads.setting("auto") == threads.setting(" AUTO ") == "auto"
    assert threads.setting("3") == threads.setting(numpy.int64(3)) == 3


def test_train_step_and_evaluate_take_threads_and_restore():
    model, opt, loader, spy = setup()
    x, y = next(iter(loader))
    before = threadpoolctl.threadpool_info()
    minifa.train_step(model, minifa.SoftmaxCrossEntropy(), opt, x, y, threads=1)
    minifa.evaluate(model, x, y, threads=1)
    assert threadpoolctl.threadpool_info() == before
    assert [seen[0] for seen in spy.seen] == [[1] * len(blas_threads())] * 2


def test_an_error_inside_a_step_still_restores_the_threads():
    before = threadpoolctl.threadpool_info()
    with pytest.raises(RuntimeError, match="boom"):
        with threads.scope(numpy, 1):
            raise RuntimeError("boom")
    assert threadpoolctl.threadpool_info() == before
    assert threads.current() is None


@pytest.mark.parametrize("setting", [1, 2])
def test_same_seed_and_thread_setting_give_the_same_run(setting):
    a, model_a, _ = run(setting, epochs=2)
    b, model_b, _ = run(setting, epochs=2)
    pandas_equal(a, b)
    for la, lb in zip(model_a.layers, model_b.layers):
        if hasattr(la, "W"):
            assert numpy.array_equal(la.W, lb.W)


def pandas_equal(a, b):
    import pandas

    pandas.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))


def test_machine_load_counts_only_other_processes(monkeypatch):
    load = threads.MachineLoad()
    samples = iter([
        (0.0, 10.0, 5.0),  # (wall, busy CPU seconds of our cores, our own CPU seconds)
        (1.0, 12.0, 6.9),  # 2 s busy, 1.9 ours: others 0.1 core of 2 -> 2 free
        (2.0, 14.0, 7.9),  # 2 s busy, 1.0 ours: others 1 core -> 1 free
        (3.0, 16.0, 7.9),  # others 2 cores: still at least 1
    ])
    monkeypatch.setattr(load, "sample", lambda now: next(samples))
    monkeypatch.setattr(threads, "cpus", lambda: [0, 1])
    monkeypatch.setattr(threads, "LOAD_WINDOW", 0.0)
    monkeypatch.setattr(threads, "FIRST_WINDOW", 0.0)
    load.cores = [0, 1]
    # the first call looks over its own first window (two samples): known at once
    assert [load.free_cores() for _ in range(2)] == [2, 1]
    assert load.limit() == 1  # the next window: others keep 2 cores busy, we keep 1
    load.free = 2
    monkeypatch.setattr(load, "free_cores", lambda: load.free)
    assert load.limit() is None  # every core free: leave the BLAS alone


def test_machine_load_reads_this_machine():
    load = threads.MachineLoad()
    first = load.sample(0.0)
    if first is None:
        pytest.skip("no /proc/stat here")
    now, busy, own = first
    assert busy >= 0 and own >= 0 and load.cores
    fresh = threads.MachineLoad()
    assert 1 <= fresh.free_cores() <= len(fresh.cores)  # known from the first call on


def test_the_cli_takes_threads():
    p = cli.parser("doc")
    cli.add_common_arguments(p)
    assert p.parse_args([]).threads is None
    assert p.parse_args(["--threads", "2"]).threads == 2
    assert p.parse_args(["--threads", "auto"]).threads == "auto"
    with pytest.raises(SystemExit):
        p.parse_args(["--threads", "0"])


@pytest.mark.parametrize("name", ["mnist", "compare_rules"])
def test_the_examples_refuse_a_bad_environment_variable_before_loading_data(
        name, monkeypatch, capsys):
    example = load_example(name)
    monkeypatch.setenv(threads.ENV_VAR, "two")
    monkeypatch.setattr(cli, "load_data", lambda args: pytest.fail("data loaded"))
    assert example.main(["--data", "digits", "--sizes", "64,16,10", "--epochs", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: $MINIFA_THREADS must be a positive integer or 'auto', got 'two'\n"


def test_the_examples_hand_threads_to_train(monkeypatch, capsys):
    mnist = load_example("mnist")
    seen = []
    real = cli.train
    monkeypatch.setattr(cli, "train", lambda *a, **kw: seen.append(kw["threads"]) or
                        real(*a, **kw))
    argv = ["--data", "digits", "--sizes", "64,16,10", "--epochs", "1"]
    assert mnist.main(argv + ["--threads", "1"]) == 0
    assert mnist.main(argv) == 0
    assert seen == [1, None]
    assert "ETA" not in capsys.readouterr().err
