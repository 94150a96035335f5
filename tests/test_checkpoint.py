"""Checkpoints: exact resume (also after a real kill), atomic writes, clear mismatch errors,
CuPy-like <-> NumPy portability, Ctrl-C and the divergence guard."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy
import pytest

import minifa
from minifa import checkpoint as ckpt
from minifa import training

CORE = ["epoch", "loss_train", "loss_test", "acc_train", "acc_test"]


def data(n=600, width=20, k=4):
    rng = numpy.random.default_rng(11)
    return rng.random((n, width), dtype=numpy.float32), rng.integers(0, k, n)


# KP's decay switches at step 60, between the interruption and the end
DECAY = {"kp": minifa.WarmupDecay(start=2.0, steps=60, then=0.5)}


def setup(rule="fa", backend=None, seed=0, sizes=(20, 16, 8, 4), loader_seed=None):
    x, y = data()
    model = minifa.mlp(list(sizes), rule=rule, seed=seed, backend=backend)
    opt = minifa.Adam(model.parameters(), weight_decay=DECAY.get(rule, 0.0))
    shuffle = minifa.streams(seed if loader_seed is None else loader_seed).shuffle
    loader = minifa.DataLoader(x, y, batch_size=16, seed=shuffle, backend=backend)
    test = (loader.backend.asarray(x[:100]), loader.backend.asarray(y[:100]))
    return model, opt, loader, test


def weights(model, backend=None):
    b = backend or minifa.get_backend("numpy")
    return [b.to_host(p.value).copy() for p in model.parameters()]


def uninterrupted(rule="fa", epochs=3):
    model, opt, loader, test = setup(rule)
    history = minifa.train(model, opt, loader, epochs=epochs, test=test)
    return history, weights(model)


@pytest.mark.parametrize("rule, at_step, where", [
    ("fa", 50, "epoch 2 after step 13"), ("kp", 50, "epoch 2 after step 13"),
    ("wm", 50, "epoch 2 after step 13"), ("brsf", 50, "epoch 2 after step 13"),
    ("drtp", 50, "epoch 2 after step 13"),
    ("fa", 74, "epoch 2 after step 37"),  # the epoch's last step: its row must survive
])
def test_ctrl_c_mid_epoch_then_resume_is_bitwise_identical(tmp_path, monkeypatch, rule, at_step,
                                                           where):
    path = str(tmp_path / "run.npz")
    reference, w_ref = uninterrupted(rule)
    steps = {"n": 0}
    real_step = training.train_step

    def step_then_ctrl_c(*args):
        steps["n"] += 1
        if steps["n"] == at_step:  # 50: epoch 2, step 13 of 37
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args)

    monkeypatch.setattr(training, "train_step", step_then_ctrl_c)
    model, opt, loader, test = setup(rule)
    with pytest.raises(minifa.TrainingStopped, match="rerun with --resume") as info:
        minifa.train(model, opt, loader, epochs=3, test=test, checkpoint=path)
    assert info.value.interrupted and where in str(info.value)
    monkeypatch.setattr(training, "train_step", real_step)
    model, opt, loader, test = setup(rule)  # a fresh process would start like this
    resumed = minifa.train(model, opt, loader, epochs=3, test=test, checkpoint=path, resume=True)
    assert resumed[CORE].equals(reference[CORE])
    for a, b in zip(w_ref, weights(model)):
        numpy.testing.assert_array_equal(a, b)


CHILD = textwrap.dedent("""
    import sys, time, numpy, minifa
    from minifa import training
    path, out, slow = sys.argv[1], sys.argv[2], sys.argv[3] == "slow"
    rng = numpy.random.default_rng(11)
    x, y = rng.random((600, 20), dtype=numpy.float32), rng.integers(0, 4, 600)
    model = minifa.mlp([20, 16, 8, 4], rule="fa", seed=0)
    opt = minifa.Adam(model.parameters())
    loader = minifa.DataLoader(x, y, batch_size=16, seed=minifa.streams(0).shuffle)
    if slow:
        step = training.train_step
        def slow_step(*a):
            time.sleep(0.005)
            return step(*a)
        training.train_step = slow_step
    minifa.train(model, opt, loader, epochs=4, checkpoint=path, resume=True,
                 checkpoint_every=5)
    numpy.savez(out, *[p.value for p in model.parameters()])
""")


def test_killed_training_process_resumes_bitwise_identical(tmp_path):
    """SIGKILL a real training process mid-epoch, then resume it in a new one."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    run = [sys.executable, str(script)]
    subprocess.run(run + [str(tmp_path / "ref.npz"), str(tmp_path / "ref-w.npz"), "fast"],
                   check=True, env=env, timeout=120)
    path = tmp_path / "run.npz"
    child = subprocess.Popen(run + [str(path), str(tmp_path / "w.npz"), "slow"], env=env)
    deadline = time.time() + 60
    meta = None
    while time.time() < deadline:  # wait for a mid-epoch checkpoint of epoch 2 or later
        if path.exists():
            try:
                meta, _ = ckpt.read(path)
            except minifa.DataError:
                meta = None
            if meta and meta["epoch"] >= 2 and meta["step"] % meta["steps_per_epoch"]:
                break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL and meta is not None
    assert not (tmp_path / "w.npz").exists()  # it really died before finishing
    subprocess.run(run + [str(path), str(tmp_path / "w.npz"), "fast"], check=True, env=env,
                   timeout=120)
    with numpy.load(tmp_path / "ref-w.npz") as ref, numpy.load(tmp_path / "w.npz") as got:
        assert len(ref.files) == len(got.files) == 6
        for name in ref.files:
            numpy.testing.assert_array_equal(ref[name], got[name])


def test_checkpoint_moves_between_backends(tmp_path, strict):
    path = str(tmp_path / "c.npz")
    model, opt, loader, test = setup(backend=strict)
    minifa.train(model, opt, loader, epochs=1, test=test, checkpoint=path)
    on_device = weights(model, strict)
    model2, opt2, loader2, _ = setup()
    ckpt.load(path, model2, opt2, loader2)
    for a, b in zip(on_device, weights(model2)):
        numpy.testing.assert_array_equal(a, b)
    ckpt.save(path, model2, opt2, loader2, 1, len(loader2), [])
    model3, opt3, loader3, _ = setup(backend=strict, seed=5, loader_seed=0)  # weights differ
    ckpt.load(path, model3, opt3, loader3)
    for a, b in zip(on_device, weights(model3, strict)):
        numpy.testing.assert_array_equal(a, b)
    assert all(type(p.value).__name__ == "StrictArray" for p in model3.parameters())


def saved(tmp_path, rule="fa"):
    path = str(tmp_path / "c.npz")
    model, opt, loader, test = setup(rule)
    minifa.train(model, opt, loader, epochs=1, test=test, checkpoint=path)
    return path


@pytest.mark.parametrize("other, match", [
    (dict(rule="kp"), "rule 'fa'.*uses 'kp'"),
    (dict(sizes=(20, 12, 8, 4)), r"different architecture: model.layers\[0\]"),
])
def test_mismatched_model_is_named(tmp_path, other, match):
    path = saved(tmp_path)
    model, opt, loader, _ = setup(**other)
    with pytest.raises(minifa.DataError, match=match) as info:
        ckpt.load(path, model, opt, loader)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_one_clear_error(tmp_path, damage):
    path = saved(tmp_path)
    blob = open(path, "rb").read()
    blob = {"truncate": blob[: len(blob) // 2], "garbage": b"not a checkpoint" * 10,
            "empty": b""}[damage]
    open(path, "wb").write(blob)
    model, opt, loader, _ = setup()
    with pytest.raises(minifa.DataError, match="truncated or corrupt") as info:
        minifa.train(model, opt, loader, epochs=2, checkpoint=path, resume=True)
    assert "\n" not in str(info.value)


def test_failed_save_keeps_the_previous_checkpoint_and_no_partial_file(tmp_path, monkeypatch):
    path = saved(tmp_path)
    before = open(path, "rb").read()

    def broken_savez(f, **arrays):
        f.write(b"PK half a file")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.numpy, "savez", broken_savez)
    model, opt, loader, test = setup()
    with pytest.raises(OSError, match="disk full"):
        minifa.train(model, opt, loader, epochs=1, checkpoint=path)
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["c.npz"]


def test_stale_temporary_from_a_killed_save_is_cleaned(tmp_path):
    path = saved(tmp_path)
    (tmp_path / ".c.npz.tmp-dead").write_bytes(b"PK partial")
    model, opt, loader, _ = setup()
    ckpt.save(path, model, opt, loader, 1, len(loader), [])
    assert os.listdir(tmp_path) == ["c.npz"]


def test_divergence_stops_with_epoch_step_and_cause_and_keeps_last_good(tmp_path):
    path = str(tmp_path / "c.npz")
    model, opt, loader, test = setup()
    minifa.train(model, opt, loader, epochs=1, checkpoint=path)
    good = open(path, "rb").read()
    opt.lr = 1e30  # a learning rate no network survives, from here on
    with pytest.raises(minifa.TrainingStopped, match=r"diverged in epoch 1: the training loss "
                       r"became NaN or infinite at step \d+; lower the learning rate lr \(--lr\), "
                       r"now 1e\+30"):
        minifa.train(model, opt, loader, epochs=3, checkpoint=path)
    assert open(path, "rb").read() == good


def test_resume_without_a_checkpoint_starts_fresh_and_history_is_kept(tmp_path):
    path = str(tmp_path / "c.npz")
    model, opt, loader, test = setup()
    first = minifa.train(model, opt, loader, epochs=2, test=test, checkpoint=path, resume=True)
    model, opt, loader, test = setup()
    again = minifa.train(model, opt, loader, epochs=2, test=test, checkpoint=path, resume=True)
    assert again[CORE].equals(first[CORE])  # already done: the saved history comes back
    meta, arrays = ckpt.read(path)
    assert meta["minifa"] == minifa.__version__ and meta["rule"] == "fa"
    assert meta["epoch"] == 2 and len(meta["history"]) == 2
    assert {"layer0.W", "layer0.B", "optimizer.mu", "optimizer.nu"} <= set(arrays)


def test_resume_with_other_settings_is_refused(tmp_path):
    path = saved(tmp_path)
    model, opt, loader, _ = setup()
    opt.lr = 1e-3
    with pytest.raises(minifa.DataError, match=r"optimizer lr=0.0003, this run has 0.001"):
        ckpt.load(path, model, opt, loader)


def test_ctrl_c_without_a_checkpoint_saves_one_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real_step = training.train_step
    steps = {"n": 0}

    def step_then_ctrl_c(*args):
        steps["n"] += 1
        if steps["n"] == 10:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args)

    monkeypatch.setattr(training, "train_step", step_then_ctrl_c)
    model, opt, loader, test = setup()
    with pytest.raises(minifa.TrainingStopped,
                       match="saved to minifa-interrupted.npz: rerun with --checkpoint "
                             "minifa-interrupted.npz --resume"):
        minifa.train(model, opt, loader, epochs=2, test=test)
    monkeypatch.setattr(training, "train_step", real_step)
    model, opt, loader, test = setup()
    resumed = minifa.train(model, opt, loader, epochs=2, test=test,
                           checkpoint="minifa-interrupted.npz", resume=True)
    reference, w_ref = uninterrupted(epochs=2)
    assert resumed[CORE].equals(reference[CORE])
    for a, b in zip(w_ref, weights(model)):
        numpy.testing.assert_array_equal(a, b)


def test_resume_with_another_decay_schedule_is_refused(tmp_path):
    path = saved(tmp_path, rule="kp")
    model, opt, loader, _ = setup("kp")
    opt.weight_decay = minifa.WarmupDecay(start=2.0, steps=30, then=0.5)
    with pytest.raises(minifa.DataError, match=r"weight_decay='WarmupDecay\(start=2.0, steps=60"):
        ckpt.load(path, model, opt, loader)


def steady_half(t):
    return 0.5


def test_a_plain_function_schedule_is_recorded_by_its_name():
    model, opt, loader, _ = setup()
    opt.weight_decay = steady_half
    recorded = ckpt.settings(opt, loader)["optimizer"]["weight_decay"]
    assert recorded.endswith("test_checkpoint.steady_half")  # the same in every process


def test_optimizer_state_of_another_size_is_refused_before_anything_changes(tmp_path):
    path = saved(tmp_path)
    with numpy.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["optimizer.mu"] = arrays["optimizer.mu"][:-5]  # as if saved for other arrays
    numpy.savez(path, **arrays)
    model, opt, loader, _ = setup()
    before = weights(model)
    with pytest.raises(minifa.DataError, match=r"optimizer state for \d+ values, this optimizer"):
        ckpt.load(path, model, opt, loader)
    for a, b in zip(before, weights(model)):
        numpy.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("change, match, flag", [
    (dict(loader_seed=5), r"loader seed=0, this run has 5: resume with the same seed", "--seed"),
    (dict(lr=1e-3), r"optimizer lr=0.0003, this run has 0.001: resume with the same learning "
                    r"rate \(lr, --lr\)", "--lr"),
    (dict(labels=True), r"trained on other labels", "--data"),
])
def test_each_mismatch_names_only_its_own_setting(tmp_path, change, match, flag):
    path = saved(tmp_path)
    model, opt, loader, _ = setup(loader_seed=change.get("loader_seed"))
    if "lr" in change:
        opt.lr = change["lr"]
    if "labels" in change:
        loader.y = loader.y[::-1].copy()  # the same samples in another order
    with pytest.raises(minifa.DataError, match=match) as info:
        ckpt.load(path, model, opt, loader)
    flags = {f for f in ("--seed", "--lr", "--batch-size", "--weight-decay", "--data")
             if f in str(info.value)}
    assert flags <= {flag} and "\n" not in str(info.value)


def test_check_reads_and_compares_without_changing_anything(tmp_path):
    path = saved(tmp_path)
    model, opt, loader, _ = setup()
    before = weights(model)
    meta = ckpt.check(path, model, opt, loader)
    assert meta["epoch"] == 1 and meta["settings"]["loader"]["seed"] == 0
    for a, b in zip(before, weights(model)):
        numpy.testing.assert_array_equal(a, b)


def test_resumed_epoch_counts_the_seconds_before_the_interruption(tmp_path, monkeypatch):
    path = str(tmp_path / "run.npz")
    real_step, steps = training.train_step, {"n": 0}

    def slow_step_then_ctrl_c(*args):
        steps["n"] += 1
        time.sleep(0.01)
        if steps["n"] == 50:  # epoch 2, step 13 of 37
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args)

    monkeypatch.setattr(training, "train_step", slow_step_then_ctrl_c)
    model, opt, loader, test = setup()
    with pytest.raises(minifa.TrainingStopped):
        minifa.train(model, opt, loader, epochs=2, test=test, checkpoint=path)
    before, _ = ckpt.read(path)
    assert before["seconds"] >= 13 * 0.01
    monkeypatch.setattr(training, "train_step", real_step)  # the rest runs fast
    model, opt, loader, test = setup()
    resumed = minifa.train(model, opt, loader, epochs=2, test=test, checkpoint=path,
                           resume=True)
    assert resumed["seconds"].iloc[1] >= before["seconds"]


def test_diagnostics_records_survive_a_resume(tmp_path):
    path = str(tmp_path / "run.npz")
    model, opt, loader, test = setup()
    minifa.train(model, opt, loader, epochs=1, test=test, checkpoint=path,
                 diagnostics=minifa.Diagnostics(*test))
    model, opt, loader, test = setup()
    diagnostics = minifa.Diagnostics(*test)
    minifa.train(model, opt, loader, epochs=2, test=test, checkpoint=path, resume=True,
                 diagnostics=diagnostics)
    frame = diagnostics.frame()
    assert sorted(set(zip(frame["epoch"], frame["step"]))) == [(1, 0), (1, 37), (2, 37)]
