"""The fused RNN op (npx.rnn / nd.RNN) against a step-by-step NumPy reference with the same packed
parameters, and its gradients against finite differences."""
import numpy as onp
import pytest

import mxgluon as mx
import rnn_reference as ref
from gradcheck import check_grad

np, npx = mx.np, mx.npx
rng = onp.random.RandomState(7)


def setup(mode, layers, hidden, dirs, t=4, n=3, i=5, proj=None, scale=0.5):
    size = sum(int(onp.prod(s)) for _, s in ref.layout(mode, layers, hidden, dirs, i, proj))
    x = rng.uniform(-1, 1, (t, n, i))
    params = rng.uniform(-scale, scale, size)
    h0 = rng.uniform(-1, 1, (layers * dirs, n, proj or hidden))
    c0 = rng.uniform(-1, 1, (layers * dirs, n, hidden)) if mode == "lstm" else None
    return x, params, h0, c0


def run(mode, x, params, h0, c0, layers, hidden, dirs, **kw):
    arr = lambda a: None if a is None else np.array(a, dtype="float64")  # noqa: E731
    return npx.rnn(arr(x), arr(params), arr(h0), arr(c0), mode=mode, state_size=hidden, num_layers=layers,
                   bidirectional=dirs == 2, state_outputs=True, **kw)


CASES = [(mode, layers, dirs) for mode in ("lstm", "gru", "rnn_tanh", "rnn_relu")
         for layers, dirs in ((1, 1), (2, 1), (2, 2))]


@pytest.mark.parametrize("mode,layers,dirs", CASES)
def test_forward_matches_reference(mode, layers, dirs):
    hidden = 4
    x, params, h0, c0 = setup(mode, layers, hidden, dirs)
    outs = run(mode, x, params, h0, c0, layers, hidden, dirs)
    want = ref.rnn(mode, x, params, h0, c0, layers, hidden, dirs)
    assert len(outs) == (3 if mode == "lstm" else 2)
    assert outs[0].shape == (4, 3, dirs * hidden)
    for got, w in zip(outs, want):
        onp.testing.assert_allclose(got.asnumpy(), w, rtol=1e-10, atol=1e-12)


def test_float32_and_state_outputs_false():
    x, params, h0, c0 = setup("lstm", 2, 6, 2)
    f = lambda a: np.array(a, dtype="float32")  # noqa: E731
    out = npx.rnn(f(x), f(params), f(h0), f(c0), mode="lstm", state_size=6, num_layers=2, bidirectional=True)
    assert not isinstance(out, list) and out.dtype == onp.float32 and out.shape == (4, 3, 12)
    want = ref.rnn("lstm", x, params, h0, c0, 2, 6, 2)[0]
    onp.testing.assert_allclose(out.asnumpy(), want, rtol=1e-4, atol=1e-5)


def test_projection_and_clipping():
    hidden, proj = 5, 3
    x, params, h0, c0 = setup("lstm", 2, hidden, 2, proj=proj, scale=1.5)
    outs = run("lstm", x, params, h0, c0, 2, hidden, 2, projection_size=proj)
    want = ref.rnn("lstm", x, params, h0, c0, 2, hidden, 2, proj=proj)
    assert outs[0].shape == (4, 3, 2 * proj) and outs[1].shape == (4, 3, proj) and outs[2].shape == (4, 3, hidden)
    for got, w in zip(outs, want):
        onp.testing.assert_allclose(got.asnumpy(), w, rtol=1e-10, atol=1e-12)
    x2, p2, h2, c2 = setup("lstm", 2, hidden, 2, scale=1.5)
    outs = run("lstm", x2, p2, h2, c2, 2, hidden, 2, lstm_state_clip_min=-0.3, lstm_state_clip_max=0.4)
    want = ref.rnn("lstm", x2, p2, h2, c2, 2, hidden, 2, clip=(-0.3, 0.4))
    assert outs[2].asnumpy().max() <= 0.4 and outs[2].asnumpy().min() >= -0.3
    for got, w in zip(outs, want):
        onp.testing.assert_allclose(got.asnumpy(), w, rtol=1e-10, atol=1e-12)


def test_clip_nan():
    x, params, h0, c0 = setup("lstm", 1, 3, 1)
    c0[0, 0, 0] = onp.nan
    kw = dict(lstm_state_clip_min=-1.0, lstm_state_clip_max=1.0)
    kept = run("lstm", x, params, h0, c0, 1, 3, 1, lstm_state_clip_nan=True, **kw)
    assert not onp.isnan(kept[2].asnumpy()).any()
    onp.testing.assert_allclose(kept[2].asnumpy(), ref.rnn("lstm", x, params, h0, c0, 1, 3, 1, clip=(-1, 1),
                                                           clip_nan=True)[2], rtol=1e-10)
    spread = run("lstm", x, params, h0, c0, 1, 3, 1, lstm_state_clip_nan=False, **kw)
    assert onp.isnan(spread[2].asnumpy()[0, 0, 0])


def test_sequence_length():
    for mode in ("lstm", "gru"):
        x, params, h0, c0 = setup(mode, 2, 4, 2, t=5, n=3)
        lengths = onp.array([5, 2, 3])
        outs = run(mode, x, params, h0, c0, 2, 4, 2, sequence_length=np.array(lengths, dtype="int32"),
                   use_sequence_length=True)
        want = ref.rnn(mode, x, params, h0, c0, 2, 4, 2, lengths=lengths)
        for got, w in zip(outs, want):
            onp.testing.assert_allclose(got.asnumpy(), w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode,proj", [("lstm", None), ("lstm", 7), ("gru", None), ("rnn_tanh", None),
                                       ("rnn_relu", None)])
def test_batch_rows_split_across_threads(mode, proj):
    """Enough rows and units for the step loop to give each thread a chunk of the batch (its
    rows' product, then their cells): 5 rows in chunks of 3 and 2 on 2 threads, sequence
    lengths ending rows in either chunk; float64 (plain products) and float32 (packed ones)."""
    hidden, n, lengths = 512, 5, onp.array([3, 1, 2, 3, 2])
    x, params, h0, c0 = setup(mode, 1, hidden, 2, t=3, n=n, i=8, proj=proj, scale=0.1)
    want = ref.rnn(mode, x, params, h0, c0, 1, hidden, 2, proj=proj, lengths=lengths)
    kw = dict(sequence_length=np.array(lengths, dtype="int32"), use_sequence_length=True, projection_size=proj)
    for dtype, tol in (("float64", 1e-10), ("float32", 2e-4)):
        arr = lambda a: None if a is None else np.array(a, dtype=dtype)  # noqa: E731
        outs = npx.rnn(arr(x), arr(params), arr(h0), arr(c0), mode=mode, state_size=hidden, num_layers=1,
                       bidirectional=True, state_outputs=True, **kw)
        for got, w in zip(outs, want):
            onp.testing.assert_allclose(got.asnumpy(), w, rtol=tol, atol=tol)
    # The backward of the same split, against a central difference along one random direction
    # of every input at once (float64).
    lstm = mode == "lstm"
    ins = [x, params, h0] + ([c0] if lstm else [])

    def f(*a):
        outs = npx.rnn(a[0], a[1], a[2], a[3] if lstm else None, mode=mode, state_size=hidden, num_layers=1,
                       bidirectional=True, state_outputs=True, **kw)
        return np.concatenate([o.reshape(-1) for o in outs])
    xs = [np.array(a, dtype="float64") for a in ins]
    wts = rng.uniform(0.5, 1.5, f(*xs).shape)
    for v in xs:
        v.attach_grad()
    with mx.autograd.record():
        (f(*xs) * np.array(wts, dtype="float64")).sum().backward()
    dirs = [rng.uniform(-1, 1, a.shape) for a in ins]

    def loss(e):
        return float((f(*[np.array(a + e * d, dtype="float64") for a, d in zip(ins, dirs)]).asnumpy() * wts).sum())
    numeric = (loss(1e-6) - loss(-1e-6)) / 2e-6
    analytic = sum(float((v.grad.asnumpy() * d).sum()) for v, d in zip(xs, dirs))
    assert abs(numeric - analytic) <= 1e-5 * max(1.0, abs(analytic)), (numeric, analytic)


def grad_case(mode, layers, dirs, proj=None, **kw):
    hidden = 2
    x, params, h0, c0 = setup(mode, layers, hidden, dirs, t=3, n=2, i=3, proj=proj, scale=0.8)
    lstm = mode == "lstm"

    def f(x, p, h, *c):
        outs = npx.rnn(x, p, h, c[0] if lstm else None, mode=mode, state_size=hidden, num_layers=layers,
                       bidirectional=dirs == 2, state_outputs=True, projection_size=proj, **kw)
        return np.concatenate([o.reshape(-1) for o in outs])

    check_grad(f, [x, params, h0] + ([c0] if lstm else []), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode,layers,dirs", [("lstm", 2, 2), ("gru", 2, 2), ("rnn_tanh", 2, 1),
                                              ("rnn_relu", 1, 2)])
def test_gradients(mode, layers, dirs):
    grad_case(mode, layers, dirs)


def test_gradients_projection_and_clipping():
    grad_case("lstm", 2, 1, proj=1)
    grad_case("lstm", 1, 2, lstm_state_clip_min=-0.2, lstm_state_clip_max=0.3)


def test_gradients_sequence_length():
    x, params, h0, c0 = setup("lstm", 1, 2, 2, t=4, n=3, i=2)
    lengths = np.array([4, 1, 2], dtype="int32")

    def f(x, p, h, c):
        outs = npx.rnn(x, p, h, c, lengths, mode="lstm", state_size=2, num_layers=1, bidirectional=True,
                       state_outputs=True, use_sequence_length=True)
        return np.concatenate([o.reshape(-1) for o in outs])

    check_grad(f, [x, params, h0, c0], rtol=1e-5, atol=1e-7)


def test_dropout_between_layers():
    x, params, h0, c0 = setup("gru", 3, 4, 1, t=3, n=5)
    plain = run("gru", x, params, h0, c0, 3, 4, 1)[0].asnumpy()
    # inference: dropout is off
    onp.testing.assert_allclose(run("gru", x, params, h0, c0, 3, 4, 1, p=0.5)[0].asnumpy(), plain)
    with mx.autograd.train_mode():
        mx.random.seed(3)
        a = run("gru", x, params, h0, c0, 3, 4, 1, p=0.5)[0].asnumpy()
        mx.random.seed(3)
        b = run("gru", x, params, h0, c0, 3, 4, 1, p=0.5)[0].asnumpy()
    onp.testing.assert_allclose(a, b)
    assert not onp.allclose(a, plain)

    def f(x, p, h):
        mx.random.seed(4)  # the same dropout mask on every call
        with mx.autograd.train_mode():
            outs = npx.rnn(x, p, h, mode="gru", state_size=2, num_layers=2, state_outputs=True, p=0.4)
        return np.concatenate([o.reshape(-1) for o in outs])

    x, params, h0, _ = setup("gru", 2, 2, 1, t=2, n=2, i=2)
    check_grad(f, [x, params, h0], rtol=1e-5, atol=1e-7)


def test_nd_rnn():
    x, params, h0, c0 = setup("lstm", 1, 3, 1)
    nd = mx.nd
    out = nd.RNN(nd.array(x), nd.array(params), nd.array(h0), nd.array(c0), state_size=3, num_layers=1,
                 mode="lstm", state_outputs=True)
    assert isinstance(out[0], nd.NDArray)
    want = ref.rnn("lstm", x, params, h0, c0, 1, 3, 1)
    onp.testing.assert_allclose(out[1].asnumpy(), want[1], rtol=1e-5, atol=1e-6)


def test_errors():
    x, params, h0, c0 = setup("lstm", 1, 3, 1)
    with pytest.raises(ValueError, match=r"parameters has shape \(\d+,\), expected the packed size"):
        run("lstm", x, params[:-1], h0, c0, 1, 3, 1)
    with pytest.raises(ValueError, match=r"state has shape \(2, 3, 3\), expected"):
        run("lstm", x, params, onp.zeros((2, 3, 3)), c0, 1, 3, 1)
    with pytest.raises(ValueError, match="mode must be one of"):
        run("lstmx", x, params, h0, c0, 1, 3, 1)
    with pytest.raises(ValueError, match="only supported for mode=lstm"):
        run("gru", x, params, h0, None, 1, 3, 1, projection_size=2)
    with pytest.raises(ValueError, match="must be given together"):
        run("lstm", x, params, h0, c0, 1, 3, 1, lstm_state_clip_min=0.1)
    with pytest.raises(ValueError, match="3 dimensions"):
        run("lstm", x[0], params, h0, c0, 1, 3, 1)
