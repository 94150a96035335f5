"""What a user layer can rely on: default draws that differ and repeat, checkpoints
that keep every array it holds, flat parameter storage that cannot silently break
its views, and one-line errors where the contract is not met."""

import subprocess
import sys
import textwrap

import numpy
import pytest

import minifa
from minifa import checkpoint as ckpt
from minifa.gradcheck import check_feedback


def test_two_default_layers_differ_and_seed_restarts_the_stream():
    minifa.seed(0)
    a, b = minifa.FALinear(5, 5), minifa.FALinear(5, 5)
    assert not numpy.array_equal(a.W, b.W) and not numpy.array_equal(a.B, b.B)
    assert not numpy.array_equal(a.W, a.B.T)
    minifa.seed(0)
    again = minifa.FALinear(5, 5)
    numpy.testing.assert_array_equal(again.W, a.W)
    numpy.testing.assert_array_equal(again.B, a.B)
    minifa.seed(1)
    assert not numpy.array_equal(minifa.FALinear(5, 5).W, a.W)


def test_the_same_script_gives_the_same_weights_in_two_fresh_processes():
    script = textwrap.dedent("""
        import minifa
        net = minifa.Sequential(minifa.FALinear(4, 3), minifa.ReLU(), minifa.FALinear(3, 2),
                                minifa.StochasticSignSTE())
        print(repr([net.layers[0].W.tolist(), net.layers[2].B.tolist(),
                    net.layers[3].noise_rng.random()]))
    """)
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1] and runs[0].strip()


class FixedNoiseLinear(minifa.Linear):
    """B = W.T + N with a fixed noise N it draws itself (an undeclared array) and
    a Generator of its own."""

    def __init__(self, n_in, n_out, *, rng=None, noise_rng=None, dtype="float32"):
        super().__init__(n_in, n_out, rng=rng, dtype=dtype)
        self.noise = minifa.seeding.as_rng(noise_rng)
        self.N = self.noise.standard_normal((n_out, n_in)).astype(dtype)

    def feedback(self, delta):
        return delta @ (self.W.T + self.N)


def user_model(noise_seed):
    return minifa.Sequential(minifa.Linear(6, 5, rng=0), minifa.ReLU(),
                             FixedNoiseLinear(5, 3, rng=1, noise_rng=noise_seed))


def test_a_user_layers_own_array_and_generator_survive_a_checkpoint(tmp_path):
    rng = numpy.random.default_rng(0)
    x, y = rng.random((64, 6), dtype=numpy.float32), rng.integers(0, 3, 64)
    path = str(tmp_path / "user.npz")
    model = user_model(noise_seed=1)
    loader = minifa.DataLoader(x, y, batch_size=16, seed=0)
    minifa.train(model, minifa.SGD(model.parameters(), lr=0.1), loader, epochs=1,
                 checkpoint=path)
    saved_N = model.layers[2].N.copy()
    saved_state = model.layers[2].noise.bit_generator.state
    assert {"layer2.W", "layer2.N"} <= set(ckpt.read(path)[1])

    other = user_model(noise_seed=2)  # a new process would draw another N
    assert not numpy.array_equal(other.layers[2].N, saved_N)
    loader = minifa.DataLoader(x, y, batch_size=16, seed=0)
    ckpt.load(path, other, minifa.SGD(other.parameters(), lr=0.1), loader)
    numpy.testing.assert_array_equal(other.layers[2].N, saved_N)
    assert other.layers[2].noise.bit_generator.state == saved_state
    numpy.testing.assert_array_equal(other.layers[2].W, model.layers[2].W)


def test_caches_and_gradients_are_not_saved(tmp_path):
    rng = numpy.random.default_rng(0)
    x, y = rng.random((32, 6), dtype=numpy.float32), rng.integers(0, 3, 32)
    path = str(tmp_path / "c.npz")
    model = minifa.mlp([6, 4, 3], rule="fa", seed=0)
    minifa.train(model, minifa.Adam(model.parameters()), minifa.DataLoader(x, y, 16),
                 epochs=1, checkpoint=path)
    saved = set(ckpt.read(path)[1])
    assert {"layer0.W", "layer0.B", "layer2.B"} <= saved
    assert not {"layer0.x", "layer0.dW", "layer1.z"} & saved


def test_state_a_checkpoint_cannot_restore_is_refused_before_training(tmp_path):
    class ListOfNoise(minifa.Linear):
        def __init__(self, n_in, n_out):
            super().__init__(n_in, n_out, rng=0)
            self.Ns = [numpy.zeros((n_out, n_in), numpy.float32)]

    model = minifa.Sequential(ListOfNoise(6, 3))
    x = numpy.zeros((16, 6), numpy.float32)
    loader = minifa.DataLoader(x, numpy.zeros(16, int), batch_size=16)
    opt = minifa.SGD(model.parameters(), lr=0.1)
    with pytest.raises(minifa.InputError, match="'Ns', which a checkpoint cannot restore"):
        minifa.train(model, opt, loader, epochs=1, checkpoint=str(tmp_path / "c.npz"))
    assert opt.t == 0 and not list(tmp_path.iterdir())  # refused before any step or file
    minifa.train(model, opt, loader, epochs=1)  # without a checkpoint it trains


class KeepsAView(minifa.Linear):
    """The trap: B is a view of W, which stops following W once the optimizer
    moves W into its flat storage."""

    def __init__(self, n_in, n_out, **kwargs):
        super().__init__(n_in, n_out, **kwargs)
        self.B = self.W.T

    def feedback(self, delta):
        return delta @ self.B


class RebuildsItsView(KeepsAView):
    def parameters_moved(self):
        self.B = self.W.T


def test_a_view_of_a_moved_weight_is_refused_with_the_hook_to_use():
    layer = KeepsAView(4, 3, rng=0)
    with pytest.raises(minifa.InputError, match=r"KeepsAView.B is a view of W.*parameters_moved"):
        minifa.SGD(layer.parameters(), lr=0.1)


def test_parameters_moved_keeps_a_view_following_the_weights():
    model = minifa.Sequential(minifa.Linear(4, 3, rng=0), minifa.ReLU(),
                              RebuildsItsView(3, 2, rng=1))
    opt = minifa.SGD(model.parameters(), lr=0.5)
    top = model.layers[2]
    start = top.W.copy()
    rng = numpy.random.default_rng(0)
    for _ in range(3):
        minifa.train_step(model, minifa.SoftmaxCrossEntropy(), opt,
                          rng.random((8, 4), dtype=numpy.float32), rng.integers(0, 2, 8))
    assert numpy.abs(top.W - start).max() > 0.01  # W moved ...
    numpy.testing.assert_array_equal(top.B, top.W.T)  # ... and B with it


def test_check_feedback_catches_the_stale_view_and_passes_the_rebuilt_one():
    x = numpy.random.default_rng(0).standard_normal((5, 4))
    with pytest.raises(minifa.GradientCheckError, match="parameters_moved"):
        check_feedback(KeepsAView(4, 3, rng=0, dtype="float64"), x)
    check_feedback(RebuildsItsView(4, 3, rng=0, dtype="float64"), x)


def test_drtp_without_labels_is_one_line():
    model = minifa.mlp([5, 4, 3], rule="drtp", seed=0)
    z = model.forward(numpy.zeros((2, 5), numpy.float32))
    with pytest.raises(minifa.InputError, match=r"DRTPLinear learns from the labels: call "
                       r"model.backward\(delta, y\)"):
        model.backward(z)
    model.backward(z, numpy.array([0, 2]))  # with them it runs


def test_mlp_takes_an_activation_name_or_class_but_not_an_instance():
    assert isinstance(minifa.mlp([3, 4, 2], activation="sigmoid").layers[1], minifa.Sigmoid)

    class Softsign(minifa.Layer):
        def forward(self, z):
            self.z = z
            return z / (1 + abs(z))

        def bp_feedback(self, delta):
            return delta / (1 + abs(self.z)) ** 2

    net = minifa.mlp([3, 4, 4, 2], activation=Softsign)
    assert isinstance(net.layers[1], Softsign) and net.layers[1] is not net.layers[3]
    with pytest.raises(minifa.InputError, match="pass the class, Tanh"):
        minifa.mlp([3, 4, 2], activation=minifa.Tanh())
    with pytest.raises(minifa.InputError, match="relu, tanh, sigmoid, or pass a Layer class"):
        minifa.mlp([3, 4, 2], activation="gelu")
