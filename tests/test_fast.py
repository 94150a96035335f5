"""Every fast path in minifa/fast.py computes the numbers of the plain equation it
replaces (the GPU kernels are checked on a GPU in test_backend.py)."""

import numpy
import pytest

import minifa
from minifa import numba_kernels


class Holder(minifa.Layer):
    param_names = ("W",)

    def __init__(self, W):
        self.W = W
        self.dW = numpy.zeros_like(W)


@pytest.mark.parametrize("dtype, rtol, atol", [("float64", 1e-12, 1e-15),
                                               ("float32", 2e-5, 1e-7)])
def test_folded_adam_equals_the_textbook_lines(dtype, rtol, atol):
    rng = numpy.random.default_rng(1)
    W0 = rng.standard_normal(500).astype(dtype)
    layers = [Holder(W0.copy()) for _ in range(2)]
    opts = [minifa.Adam(layer.parameters(), lr=1e-2, weight_decay=0.1, fast=fast,
                        flush_every=7) for layer, fast in zip(layers, (False, True))]
    for _ in range(30):
        g = rng.standard_normal(500).astype(dtype)
        g[:50] = 0.0  # dead units: their moments decay and get flushed
        for layer, opt in zip(layers, opts):
            layer.dW[...] = g
            opt.step()
    plain, folded = opts
    numpy.testing.assert_allclose(layers[1].W, layers[0].W, rtol=rtol, atol=atol)
    numpy.testing.assert_allclose((1 - folded.b1) * folded.mu, plain.m, rtol=rtol, atol=atol)
    numpy.testing.assert_allclose((1 - folded.b2) * folded.nu, plain.v, rtol=rtol, atol=atol)
    assert layers[0].W.dtype == layers[1].W.dtype == numpy.dtype(dtype)


def test_plain_adam_trains_a_model_like_the_folded_one():
    rng = numpy.random.default_rng(0)
    x, y = rng.random((256, 12)), rng.integers(0, 3, 256)
    histories = []
    for fast in (False, True):
        model = minifa.mlp([12, 8, 3], rule="fa", seed=0, dtype="float64")
        opt = minifa.Adam(model.parameters(), lr=1e-2, fast=fast)
        loader = minifa.DataLoader(x, y, batch_size=32, seed=0)
        histories.append(minifa.train(model, opt, loader, epochs=3))
    numpy.testing.assert_allclose(histories[0]["loss_train"], histories[1]["loss_train"],
                                  rtol=1e-9)


def test_relu_and_softmax_ce_backward_are_their_plain_lines_on_numpy():
    rng = numpy.random.default_rng(2)
    z, delta = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    relu = minifa.ReLU()
    relu.forward(z)
    numpy.testing.assert_array_equal(relu.backward(delta), delta * (z > 0))
    loss = minifa.SoftmaxCrossEntropy()
    y = rng.integers(0, 4, 5)
    loss.forward(z, y)
    p = numpy.exp(z) / numpy.exp(z).sum(1, keepdims=True)
    numpy.testing.assert_allclose(loss.backward(), (p - numpy.eye(4)[y]) / 5, rtol=1e-12)


def test_sliced_passes_follow_the_callers_floating_point_error_settings(monkeypatch,
                                                                     numpy_passes):
    monkeypatch.setattr(minifa.fast, "PARALLEL_MIN", 1)
    monkeypatch.setattr(minifa.fast, "CHUNK", 64)
    monkeypatch.setattr(minifa.fast, "workers", lambda: 2)
    layer = Holder(numpy.zeros(256, "float32"))
    opt = minifa.Adam(layer.parameters(), lr=1.0)
    layer.dW[...] = 1e30  # g * g overflows float32
    with numpy.errstate(over="raise"), pytest.raises(FloatingPointError):
        opt.step()  # raised in a worker thread, re-raised here
    with numpy.errstate(over="ignore"):
        opt.step()  # silent, as train() asks


# --------------------------------------------------------------------------- Numba's loops

numba_loops = pytest.mark.skipif(not numba_kernels.enabled(),
                                 reason="Numba is not installed (pip install 'minifa[fast]')")


def fused(on):
    """Switch the NumPy backend's fused kernels (Numba's loops) on or off."""
    minifa.backend.get_backend("numpy").fused = on


@pytest.fixture
def restore_fused(monkeypatch):
    """The switch as it was before the test, whatever the test sets it to."""
    backend = minifa.backend.get_backend("numpy")
    monkeypatch.setattr(backend, "fused", backend.fused)


@numba_loops
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_adam_gives_the_folded_passes_to_the_bit(dtype, restore_fused):
    rng = numpy.random.default_rng(4)
    W0 = rng.standard_normal(3001).astype(dtype)
    layers = [Holder(W0.copy()) for _ in range(2)]
    opts = [minifa.Adam(layer.parameters(), lr=1e-2, weight_decay=0.1, flush_every=7)
            for layer in layers]
    assert minifa.fast.adam_kernel(opts[0].w) is not None  # the loop is there to test
    for _ in range(30):
        g = rng.standard_normal(W0.size).astype(dtype) * rng.choice([1e-30, 1.0, 1e3])
        g[:300] = 0.0  # dead units: moments decay into subnormals and are flushed
        for layer, opt, on in zip(layers, opts, (True, False)):
            fused(on)
            layer.dW[...] = g
            opt.step()
    for name in ("w", "mu", "nu"):
        numpy.testing.assert_array_equal(getattr(opts[0], name), getattr(opts[1], name))


@numba_loops
@pytest.mark.parametrize("c_in, c_out, kernel_size, stride, padding, h, w, dtype", [
    (6, 16, 5, 1, 0, 14, 14, "float32"),  # LeNet's conv 2
    (1, 6, 5, 1, 2, 28, 28, "float32"),  # LeNet's conv 1, padded
    (3, 4, (3, 2), 1, 1, 9, 8, "float64"),  # a rectangular kernel, float64
    (3, 4, (3, 2), 2, 1, 9, 8, "float32"),  # strided (the NumPy lines both ways)
    (2, 3, 3, 3, 2, 7, 11, "float32"),  # stride as large as the kernel, padding wider
])
def test_numba_im2col_and_col2im_give_the_plain_lines_to_the_bit(
        c_in, c_out, kernel_size, stride, padding, h, w, dtype, restore_fused):
    rng = numpy.random.default_rng(5)
    conv = minifa.FAConv2d(c_in, c_out, kernel_size, stride, padding, rng=0, feedback_rng=1,
                           dtype=dtype)
    x = rng.standard_normal((4, c_in, h, w)).astype(dtype)
    delta = rng.standard_normal(conv.forward(x).shape).astype(dtype)
    outs, cols = [], []
    for on in (True, False):
        fused(on)
        cols.append(conv.im2col(x))
        outs.append(conv.feedback(delta))
    assert outs[0].shape == outs[1].shape == x.shape
    numpy.testing.assert_array_equal(outs[0], outs[1])
    assert cols[0].shape == cols[1].shape
    numpy.testing.assert_array_equal(cols[0], cols[1])


@numba_loops
@pytest.mark.parametrize("c_in, c_out, kernel_size, padding, n, h, w, dtype", [
    (1, 6, 5, 2, 8, 28, 28, "float32"),  # LeNet's conv 1
    (2, 5, 3, 1, 3, 9, 7, "float64"),  # odd c_out, K = 18 not a multiple of 4
    (3, 3, 1, 0, 2, 5, 6, "float32"),  # a 1 x 1 kernel: every position an output pixel
    (1, 2, (4, 3), 0, 1, 4, 3, "float64"),  # the kernel as large as the image: one pixel
    (3, 6, 5, 2, 4, 32, 32, "float32"),  # CIFAR-10's conv 1
])
def test_conv_lines_compute_the_plain_products(c_in, c_out, kernel_size, padding, n, h, w,
                                               dtype, restore_fused):
    rng = numpy.random.default_rng(11)
    conv = minifa.Conv2d(c_in, c_out, kernel_size, padding=padding, rng=0, dtype=dtype)
    conv.b[...] = rng.standard_normal(c_out)
    x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
    z, dW, db = [], [], []
    for on in (True, False):
        fused(on)
        z.append(conv.forward(x))
        assert (conv.lines is not None, conv.cols is None) == (on, on)
        delta = numpy.random.default_rng(12).standard_normal(z[-1].shape).astype(dtype)
        conv.grads(delta)
        dW.append(conv.dW.copy())
        db.append(conv.db.copy())
    cols = conv.cols  # from the plain lines
    W_mat = conv.W.reshape(c_out, -1)
    # the loop's order: z summed over the rows of cols one by one, then b
    ordered = numpy.zeros((c_out, cols.shape[1]), dtype=dtype)
    for k in range(cols.shape[0]):
        ordered = ordered + W_mat[:, k:k + 1] * cols[k]
    ordered = ordered + conv.b[:, None]
    numpy.testing.assert_array_equal(z[0], ordered.reshape(c_out, n, *z[0].shape[2:])
                                     .transpose(1, 0, 2, 3))
    rtol = 1e-12 if dtype == "float64" else 1e-4
    numpy.testing.assert_allclose(z[0], z[1], rtol=rtol, atol=rtol)
    # sums of n*oh*ow products in another order: agreement to rounding
    numpy.testing.assert_allclose(dW[0], dW[1], rtol=rtol, atol=rtol * abs(dW[1]).max())
    numpy.testing.assert_array_equal(db[0], db[1])
    assert z[0].dtype == dW[0].dtype == numpy.dtype(dtype)


@numba_loops
def test_conv_weight_grad_loop_on_cols_and_the_blas_beyond_it(restore_fused):
    rng = numpy.random.default_rng(13)
    strided = minifa.Conv2d(3, 4, 3, stride=2, padding=1, rng=0)  # cols, and a small dW
    lenet2 = minifa.Conv2d(6, 16, 5, rng=1)  # 2400 filter entries: cols and the BLAS
    for conv, h in ((strided, 11), (lenet2, 14)):
        x = rng.standard_normal((5, conv.c_in, h, h)).astype("float32")
        dW = []
        for on in (True, False):
            fused(on)
            delta = numpy.random.default_rng(14).standard_normal(conv.forward(x).shape)
            assert conv.lines is None and conv.cols is not None
            conv.grads(delta.astype("float32"))
            dW.append(conv.dW.copy())
        numpy.testing.assert_allclose(dW[0], dW[1], rtol=1e-4, atol=1e-4 * abs(dW[1]).max())
    delta_mat = rng.standard_normal((4, strided.cols.shape[1])).astype("float32")
    numpy.testing.assert_allclose(minifa.fast.conv_weight_grad(strided, delta_mat),
                                  delta_mat @ strided.cols.T, rtol=1e-4, atol=1e-4)


@numba_loops
@pytest.mark.parametrize("c_in, c_out, kernel_size, padding, n, h, w", [
    (1, 6, 5, 2, 3, 28, 28), (2, 5, (2, 3), 0, 1, 4, 7), (3, 1, 1, 1, 2, 3, 3),
    (1, 3, (4, 3), 0, 2, 4, 3),
])
def test_conv_line_loops_stay_inside_their_arrays(c_in, c_out, kernel_size, padding, n, h, w):
    # lines and z are the fronts of larger arrays ending in NaN: a read past the end of
    # lines would bring NaN into z or dW, a write at or past T would overwrite the NaN
    rng = numpy.random.default_rng(15)
    conv = minifa.Conv2d(c_in, c_out, kernel_size, padding=padding, rng=0, dtype="float64")
    x = rng.standard_normal((n, c_in, h, w))
    z = conv.forward(x)
    forward, weight_grad = minifa.fast.line_loops(minifa.backend.get_backend("numpy"))
    _, W, T = minifa.fast.lines_geometry(conv)
    shifts = minifa.fast.line_shifts(c_in, conv.kh, conv.kw, W)
    L = conv.lines.shape[1]
    assert T + shifts[:, 1].max() == L  # the last output pixel's kernel reaches the last pixel

    def fronted(rows):
        ends = numpy.full((rows, L + 64), numpy.nan)
        return ends, ends[:, :L]

    lines_ends, lines = fronted(c_in)
    lines[...] = conv.lines
    z_ends, z_lines = fronted(c_out)
    forward(numpy.ascontiguousarray(conv.W.reshape(c_out, -1)), conv.b, lines, shifts, T,
            z_lines)
    assert numpy.isfinite(z_lines[:, :T]).all() and numpy.isnan(z_ends[:, T:]).all()
    numpy.testing.assert_array_equal(
        minifa.fast.output_pixels(z_lines, conv).transpose(1, 0, 2, 3), z)
    placed = numpy.zeros((c_out, L))
    minifa.fast.output_pixels(placed, conv)[...] = rng.standard_normal(z.shape).transpose(
        1, 0, 2, 3)
    dW = numpy.empty((c_out, shifts.shape[0]))
    weight_grad(placed, lines, shifts, T, dW)
    assert numpy.isfinite(dW).all() and numpy.isnan(lines_ends[:, L:]).all()


@numba_loops
def test_conv_lines_keep_a_step_whole_when_the_loops_are_switched_off(restore_fused):
    rng = numpy.random.default_rng(16)
    conv = minifa.Conv2d(1, 4, 3, padding=1, rng=0)
    x = rng.standard_normal((3, 1, 6, 6)).astype("float32")
    delta = rng.standard_normal((3, 4, 6, 6)).astype("float32")
    dW = []
    for on in (True, False):
        fused(True)
        conv.forward(x)
        assert conv.lines is not None
        fused(on)  # switched off between forward and grads: cols rebuilt from the lines
        conv.grads(delta)
        dW.append(conv.dW.copy())
    numpy.testing.assert_allclose(dW[0], dW[1], rtol=1e-5, atol=1e-5)
    numpy.testing.assert_array_equal(minifa.fast.lines_input(conv), x)
    fused(True)
    assert conv.forward(x[:0]).shape == (0, 4, 6, 6) and conv.lines is None  # empty batch
    conv.grads(delta[:0])
    assert not conv.dW.any()


@numba_loops
def test_conv_weight_grad_loop_refuses_a_delta_of_another_batch(restore_fused):
    conv = minifa.Conv2d(2, 3, 3, stride=2, rng=0)  # cols, and the loop on them
    rng = numpy.random.default_rng(17)
    conv.forward(rng.standard_normal((4, 2, 9, 9)).astype("float32"))
    for m in (conv.cols.shape[1] - 16, conv.cols.shape[1] + 16):
        with pytest.raises(ValueError):  # as the BLAS product raises
            minifa.fast.conv_weight_grad(conv, numpy.ones((3, m), "float32"))


@numba_loops
def test_numba_im2col_reads_maps_in_either_layout(restore_fused):
    rng = numpy.random.default_rng(7)
    conv = minifa.FAConv2d(6, 16, 5, rng=0, feedback_rng=1)
    channel_major = rng.standard_normal((6, 4, 14, 14)).astype("float32").transpose(1, 0, 2, 3)
    for x in (channel_major, numpy.ascontiguousarray(channel_major)):
        cols = []
        for on in (True, False):
            fused(on)
            conv.forward(x)
            cols.append(conv.cols)
        numpy.testing.assert_array_equal(cols[0], cols[1])


def test_fused_kernels_can_be_switched_off(monkeypatch, restore_fused):
    backend = minifa.backend.get_backend("numpy")
    fused(False)
    assert minifa.fast.adam_kernel(numpy.zeros(3, "float32")) is None
    assert backend.cpu_loop("col2im") is None
    fused(True)
    monkeypatch.setenv("MINIFA_NUMBA", "0")
    assert not numba_kernels.enabled()
    assert numba_kernels.compile_loop("col2im") is None


def three_steps():
    """The weights after three Adam steps of a small conv net (Adam's loop, col2im's)."""
    minifa.seed(0)  # the default stream draws the feedback
    rng = numpy.random.default_rng(6)
    model = minifa.Sequential(minifa.Reshape((1, 6, 6)), minifa.FAConv2d(1, 2, 3, rng=0),
                              minifa.FAConv2d(2, 2, 3, rng=1), minifa.Flatten(),
                              minifa.FALinear(8, 3, rng=2))
    opt = minifa.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        minifa.train_step(model, minifa.SoftmaxCrossEntropy(), opt,
                          rng.random((5, 36), dtype="float32"), rng.integers(0, 3, 5))
    return opt.w.copy()


def three_steps_into(queue):
    queue.put(three_steps())


@numba_loops
def test_a_forked_child_runs_the_loops_as_its_parent():
    # the loops never start Numba's threading layer, whose GNU OpenMP aborts a forked
    # child that runs a parallel loop after its parent did
    import multiprocessing

    before = three_steps()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=three_steps_into, args=(queue,))
    child.start()
    try:
        numpy.testing.assert_array_equal(queue.get(timeout=120), before)
    finally:
        child.join(timeout=10)
    assert child.exitcode == 0


@numba_loops
@pytest.mark.parametrize("layout", ["channel by channel", "image by image"])
def test_numba_max_pool_gives_the_plain_lines_to_the_bit(layout, restore_fused):
    rng = numpy.random.default_rng(8)
    x = rng.standard_normal((6, 4, 8, 10)).astype("float32").transpose(1, 0, 2, 3)
    x[x < 0] = 0.0  # ReLU maps: windows with ties at 0
    x[0, 0, 0, :4] = [numpy.nan, 1.0, 2.0, numpy.nan]  # NaN wins the maximum, first or not
    x[1, 1, 2:4, 2:4] = -0.0  # a window of signed zeros
    x[1, 1, 4:6, 2:4] = [[0.0, 0.0], [0.0, -0.0]]  # ties of +0 and -0: NumPy keeps the last
    x[1, 1, 4:6, 4:6] = [[-0.0, 0.0], [0.0, 0.0]]
    if layout == "image by image":
        x = numpy.ascontiguousarray(x)
    delta = rng.standard_normal((4, 6, 4, 5)).astype("float32")
    delta[0, 0, 0, 0] = -1.0  # 0 * a negative delta is -0.0, in both
    outs = []
    for on in (True, False):
        fused(on)
        pool = minifa.MaxPool2d(2)
        outs.append((pool.forward(x), pool.backward(delta)))
    for a, b in zip(*outs):
        assert a.shape == b.shape
        numpy.testing.assert_array_equal(a, b)
        numpy.testing.assert_array_equal(numpy.signbit(a), numpy.signbit(b))


@numba_loops
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["rows", "channel by channel", "image by image"])
def test_numba_relu_gives_the_plain_lines_to_the_bit(layout, dtype, restore_fused):
    rng = numpy.random.default_rng(9)
    shape = (4, 6) if layout == "rows" else (6, 3, 4, 5)
    z = rng.standard_normal(shape).astype(dtype)
    delta = rng.standard_normal(shape).astype(dtype)
    specials = [numpy.nan, -0.0, 0.0, numpy.inf, -numpy.inf, -1.0, 2.0]
    z.reshape(-1)[:7] = specials  # NaN stays NaN, -0.0 becomes +0.0, as NumPy's maximum
    delta.reshape(-1)[:7] = [-1.0, numpy.nan, -numpy.inf, numpy.nan, 3.0, -2.0, numpy.inf]
    if layout == "channel by channel":  # a conv's maps: (n, c, h, w) over (c, n, h, w) memory
        z, delta = z.transpose(1, 0, 2, 3), delta.transpose(1, 0, 2, 3)
    outs = []
    for on in (True, False):
        fused(on)
        relu = minifa.ReLU()
        with numpy.errstate(invalid="ignore"):  # NaN and inf times a 0 indicator
            outs.append((relu.forward(z), relu.backward(delta)))
    fused(True)
    assert minifa.fast.relu(z) is not None  # the loops ran (no fallback to the NumPy lines)
    with numpy.errstate(invalid="ignore"):
        assert minifa.fast.relu_backward(delta, z) is not None
    for a, b in zip(*outs):
        assert a.strides == b.strides == z.strides  # the maps keep their layout
        numpy.testing.assert_array_equal(a, b)
        numpy.testing.assert_array_equal(numpy.signbit(a), numpy.signbit(b))


def loss_outputs(z, y):
    """SoftmaxCrossEntropy's L, p and delta for logits z and labels y: bytes, and
    delta's strides."""
    loss = minifa.SoftmaxCrossEntropy()
    with numpy.errstate(invalid="ignore", over="ignore"):  # inf - inf, as it should
        value = loss.forward(z, y)
        delta = loss.backward()
    return value.tobytes(), loss.p.tobytes(), delta.tobytes(), delta.strides


def both_paths(z, y):
    """loss_outputs with the loops, then with the NumPy lines."""
    outs = []
    for on in (True, False):
        fused(on)
        outs.append(loss_outputs(z, y))
    fused(True)
    return outs


@numba_loops
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [1, 3, 7, 8, 9, 10, 16, 17, 100, 128])
def test_numba_softmax_cross_entropy_gives_the_plain_lines_to_the_bit(k, dtype,
                                                                      restore_fused):
    rng = numpy.random.default_rng(k)
    for n, scale in [(1, 1.0), (64, 0.1), (64, 5.0), (130, 50.0)]:
        z = (rng.standard_normal((n, k)) * scale).astype(dtype)
        y = rng.integers(-k, k, n)  # negative labels count from the end, as NumPy indexes
        if n > 3:
            z[0] = numpy.inf  # inf - inf: NaN
            z[1] = z[1, 0]  # ties
            z[2, 0] = -numpy.inf
            z[3, -1] = numpy.finfo(dtype).max
        for labels in (y, y.astype("int8"), y.astype("int32")):
            assert minifa.fast.softmax_cross_entropy(z, labels) is not None  # the loops ran
            p = minifa.fast.softmax_cross_entropy(z, labels)[1]
            assert minifa.fast.softmax_ce_backward(p, labels) is not None
            fast_path, plain = both_paths(z, labels)
            assert fast_path == plain


@numba_loops
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logits_holding_a_nan_run_the_numpy_lines(dtype, restore_fused):
    """Which NaN NumPy's maximum keeps (sign, payload) depends on its SIMD code."""
    rng = numpy.random.default_rng(5)
    minus_nan = numpy.copysign(numpy.nan, -1.0).astype(dtype)  # as x86 gives inf - inf
    payload = numpy.array([0x7FF8000000000123], "int64").view("float64").astype(dtype)[0]
    y = rng.integers(0, 10, 6)
    for row in ([minus_nan], [numpy.nan, minus_nan], [payload, numpy.nan], [minus_nan] * 10):
        z = rng.standard_normal((6, 10)).astype(dtype)
        z[2, :len(row)] = row
        assert minifa.fast.softmax_cross_entropy(z, y) is None
        fast_path, plain = both_paths(z, y)
        assert fast_path == plain


@numba_loops
def test_softmax_cross_entropy_of_other_logits_runs_the_numpy_lines(restore_fused):
    rng = numpy.random.default_rng(3)
    z, y = rng.standard_normal((40, 129)), rng.integers(0, 129, 40)
    wide, columns = z, numpy.asfortranarray(z[:, :10])  # NumPy sums these rows otherwise
    narrow = numpy.ascontiguousarray(z[:, :10])
    assert minifa.fast.softmax_cross_entropy(wide, y) is None
    assert minifa.fast.softmax_cross_entropy(columns, y % 10) is None
    for labels in ((y % 10).astype("uint8"), (y % 10).astype(">i4")):
        assert minifa.fast.softmax_cross_entropy(narrow, labels) is None
        assert minifa.fast.softmax_ce_backward(narrow, labels) is None
        fast_path, plain = both_paths(narrow, labels)
        assert fast_path == plain
    for logits, labels in [(wide, y), (columns, y % 10)]:
        fast_path, plain = both_paths(logits, labels)
        assert fast_path == plain  # delta C-ordered either way, as the plain p.copy()


@pytest.mark.parametrize("on", [True, False])
def test_softmax_cross_entropy_refuses_labels_past_the_outputs(on, restore_fused):
    fused(on)
    loss = minifa.SoftmaxCrossEntropy()
    z = numpy.zeros((4, 3), "float32")
    good = numpy.array([0, 1, 2, 2])
    loss.forward(z, good)
    p, delta = loss.p, loss.backward()
    for y in ([0, 1, 3, 2], [0, -4, 1, 2]):
        with pytest.raises(minifa.InputError, match="labels must be 0..2"):
            loss.forward(z, numpy.array(y))
        assert loss.p is p and loss.y is good  # the last forward that went through
        numpy.testing.assert_array_equal(loss.backward(), delta)


@numba_loops
def test_relu_backward_of_a_delta_laid_out_otherwise_runs_the_numpy_line(restore_fused):
    z = numpy.arange(-60, 60, dtype="float32").reshape(3, 2, 4, 5).transpose(1, 0, 2, 3)
    delta = numpy.ascontiguousarray(-z)  # same shape, other strides: no common walk
    assert minifa.fast.relu_backward(delta, z) is None
    assert minifa.fast.relu_backward(delta[:, :, :, :1], z[:, :, :, :1]) is None
    relu = minifa.ReLU()
    relu.forward(z)
    numpy.testing.assert_array_equal(relu.backward(delta), delta * (z > 0))


@numba_loops
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale", [255, 256.0, 3.7, 1e-3])
def test_numba_batch_rows_are_the_plain_lines_to_the_bit(scale, dtype, restore_fused):
    rng = numpy.random.default_rng(10)
    x = rng.integers(0, 256, (50, 7), dtype=numpy.uint8)
    x[0] = numpy.arange(7) * 42  # 0 and 252 among them
    y = rng.integers(0, 3, 50)
    batches = []
    for on in (True, False):
        fused(on)
        loader = minifa.DataLoader(x, y, batch_size=8, seed=3, scale=scale, dtype=dtype)
        batches.append(list(loader))
    fused(True)
    assert minifa.fast.scaled_rows(x, numpy.arange(3), float(scale), loader.dtype) is not None
    assert len(batches[0]) == len(batches[1]) == 6
    for (xa, ya), (xb, yb) in zip(*batches):
        assert xa.dtype == xb.dtype == numpy.dtype(dtype)
        numpy.testing.assert_array_equal(xa, xb)
        numpy.testing.assert_array_equal(ya, yb)


@numba_loops
def test_batch_rows_outside_the_data_raise_as_numpy_does(restore_fused):
    x = numpy.arange(48, dtype=numpy.uint8).reshape(16, 3)
    loader = minifa.DataLoader(x, numpy.zeros(16, int), batch_size=4, scale=255)
    for on in (True, False):
        fused(on)
        for idx in ([16], [-17], [10**12]):
            with pytest.raises(IndexError):
                loader.rows(numpy.array(idx))
        numpy.testing.assert_array_equal(loader.rows(numpy.array([-1, 0])),
                                         numpy.divide(x[[15, 0]], 255.0, dtype="float32"))


@numba_loops
def test_array_subclasses_and_scalars_run_the_numpy_lines(restore_fused):
    masked = numpy.ma.masked_array(numpy.array([[-1.0, 2.0]], "float32"), mask=[[True, False]])
    relu = minifa.ReLU()
    assert isinstance(relu.forward(masked), numpy.ma.MaskedArray)
    assert isinstance(relu.backward(masked), numpy.ma.MaskedArray)
    assert minifa.fast.relu(numpy.array(-1.0, "float32")) is None  # NumPy gives a scalar
    pixels = numpy.ma.masked_array(numpy.zeros((4, 3), numpy.uint8))
    assert minifa.fast.scaled_rows(pixels, numpy.arange(2), 255.0, numpy.float32) is None


def test_batch_rows_of_other_pixels_run_the_numpy_line():
    x16 = numpy.arange(12, dtype=numpy.uint16).reshape(4, 3)
    assert minifa.fast.scaled_rows(x16, numpy.arange(2), 255.0, numpy.float32) is None
    x8 = x16.astype(numpy.uint8)
    assert minifa.fast.scaled_rows(x8[:, ::2], numpy.arange(2), 255.0, numpy.float32) is None
    loader = minifa.DataLoader(x16, numpy.zeros(4, int), batch_size=2, scale=255)
    assert [b.dtype for b, _ in loader] == [numpy.float32] * 2


def test_max_pool_of_other_windows_runs_the_numpy_lines(restore_fused):
    x = numpy.arange(2 * 3 * 6 * 6, dtype="float32").reshape(2, 3, 6, 6)
    assert minifa.fast.max_pool(x, 3) is None
    assert minifa.MaxPool2d(3).forward(x).shape == (2, 3, 2, 2)


@numba_loops
def test_the_loops_leave_shapes_they_were_not_made_for_to_the_numpy_lines(restore_fused):
    x = numpy.ones((2, 3, 4, 4), "float32")
    pool = minifa.MaxPool2d(2)
    z = pool.forward(x)
    broadcast = numpy.ones((2, 3, 2, 1), "float32")  # the NumPy lines broadcast it
    assert minifa.fast.max_pool_backward(x, z, broadcast, 2) is None
    assert pool.backward(broadcast).shape == x.shape
    conv = minifa.Conv2d(3, 2, 3, rng=0)
    conv.forward(x)
    assert minifa.fast.im2col(conv, x[:1]) is None  # not the shape forward saw


@numba_loops
def test_without_a_writable_cache_the_loops_compile_uncached(monkeypatch):
    from numba.core import caching

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])  # no folder will do
    loop = numba_kernels.compile_loop("max_pool_2x2")
    x = numpy.arange(16, dtype="float32").reshape(1, 1, 4, 4)
    z = numpy.empty((1, 1, 2, 2), "float32")
    loop(x, z)
    numpy.testing.assert_array_equal(z[0, 0], [[5, 7], [13, 15]])


def test_adam_slices_only_numpy_arrays(monkeypatch, strict):
    # without a fused kernel, the threaded slices are for NumPy's loops alone
    monkeypatch.setattr(minifa.fast, "PARALLEL_MIN", 1)
    monkeypatch.setattr(minifa.fast, "workers", lambda: 2)
    monkeypatch.setattr(minifa.fast, "sliced", lambda *a: pytest.fail("sliced a device array"))
    model = minifa.mlp([4, 3, 2], rule="fa", seed=0, backend=strict)
    opt = minifa.Adam(model.parameters(), lr=1e-2)
    x = strict.asarray(numpy.ones((5, 4), "float32"))
    y = strict.asarray(numpy.array([0, 1, 0, 1, 1]))
    minifa.train_step(model, minifa.SoftmaxCrossEntropy(), opt, x, y)
    assert opt.t == 1
