"""mx.np.random / mx.random: reproducibility, moments, shapes and dtypes, choice and shuffle."""
import numpy as onp
import pytest

import mxgluon as mx

np, rnd = mx.np, mx.np.random


def test_seed_reproducible():
    for f in (lambda: rnd.uniform(size=(50,)), lambda: rnd.normal(size=(51,)),
              lambda: rnd.randint(0, 100, size=(40,)), lambda: rnd.gamma(2.0, size=(30,)),
              lambda: rnd.choice(20, 5, replace=False), lambda: rnd.bernoulli(0.3, size=(40,)),
              lambda: rnd.exponential(size=(20,)), lambda: rnd.poisson(4.0, size=(20,))):
        rnd.seed(123)
        a = f().asnumpy()
        b = f().asnumpy()
        rnd.seed(123)
        c = f().asnumpy()
        onp.testing.assert_array_equal(a, c)
        assert not onp.array_equal(a, b)
    mx.random.seed(7)
    a = mx.random.uniform(shape=(10,)).asnumpy()
    rnd.seed(7)
    b = rnd.uniform(size=(10,)).asnumpy()
    onp.testing.assert_array_equal(a, b)
    rnd.seed(8)
    assert not onp.array_equal(rnd.uniform(size=(10,)).asnumpy(), b)


def test_shapes_and_dtypes():
    assert rnd.uniform().shape == ()
    assert rnd.uniform().dtype == onp.float32
    assert rnd.normal(size=3).shape == (3,)
    assert rnd.normal(size=(2, 0)).shape == (2, 0)
    assert rnd.uniform(size=(2, 3), dtype="float64").dtype == onp.float64
    assert rnd.normal(size=(4,), dtype="float16").dtype == onp.float16
    assert rnd.randint(5, size=(3, 2)).dtype == onp.int64
    assert rnd.randint(5, size=(3, 2), dtype="int32").dtype == onp.int32
    assert rnd.randint(5).shape == ()
    assert rnd.rand(2, 3).shape == (2, 3)
    assert rnd.randn(4).shape == (4,)
    assert rnd.bernoulli(prob=0.5, size=(3,)).dtype == onp.float32
    assert rnd.uniform(size=(2,), device=mx.cpu()).device == mx.cpu()
    assert rnd.uniform(size=(2,), ctx=mx.cpu()).shape == (2,)
    nd = mx.random.uniform(shape=(2, 3))
    assert type(nd).__name__ == "NDArray" and nd.shape == (2, 3)
    assert mx.random.randint(0, 4, shape=(5,)).dtype == onp.int32
    out = np.zeros((3, 4))
    r = rnd.uniform(2, 3, out=out)
    assert r is out and onp.all(out.asnumpy() >= 2)
    with pytest.raises(Exception):
        rnd.uniform(size=(2,), dtype="int32")
    with pytest.raises(Exception):
        rnd.randint(5, 5, size=(2,))


def test_uniform_moments():
    rnd.seed(0)
    x = rnd.uniform(-2, 3, size=(200000,)).asnumpy()
    assert x.min() >= -2 and x.max() < 3
    assert abs(x.mean() - 0.5) < 0.02
    assert abs(x.var() - 25 / 12) < 0.03
    h, _ = onp.histogram(x, bins=10, range=(-2, 3))
    assert onp.all(onp.abs(h / 20000 - 1) < 0.04)


def test_normal_moments():
    rnd.seed(1)
    x = rnd.normal(1.5, 2.0, size=(200000,), dtype="float64").asnumpy()
    assert abs(x.mean() - 1.5) < 0.02
    assert abs(x.std() - 2.0) < 0.02
    z = (x - 1.5) / 2
    assert abs((z ** 3).mean()) < 0.03 and abs((z ** 4).mean() - 3) < 0.06
    # odd and even elements (the two halves of each Box-Muller pair) are uncorrelated
    assert abs(onp.corrcoef(z[0::2], z[1::2])[0, 1]) < 0.01


def test_randint_range_and_uniformity():
    rnd.seed(2)
    x = rnd.randint(-3, 7, size=(100000,)).asnumpy()
    assert x.min() == -3 and x.max() == 6
    counts = onp.bincount(x + 3)
    assert onp.all(onp.abs(counts / 10000 - 1) < 0.05)
    big = rnd.randint(0, 2 ** 40, size=(1000,)).asnumpy()
    assert big.max() > 2 ** 39


@pytest.mark.parametrize("shape,scale", [(0.5, 1.0), (1.0, 2.0), (3.0, 0.5), (20.0, 1.0)])
def test_gamma_moments(shape, scale):
    rnd.seed(3)
    x = rnd.gamma(shape, scale, size=(100000,), dtype="float64").asnumpy()
    assert onp.all(x >= 0)
    assert abs(x.mean() - shape * scale) < 0.03 * shape * scale
    assert abs(x.var() - shape * scale ** 2) < 0.06 * shape * scale ** 2


def test_exponential_poisson_bernoulli():
    rnd.seed(4)
    x = rnd.exponential(2.0, size=(100000,)).asnumpy()
    assert abs(x.mean() - 2.0) < 0.04 and x.min() >= 0
    for lam in (0.5, 4.0, 30.0):
        p = rnd.poisson(lam, size=(100000,)).asnumpy()
        assert onp.all(p == onp.round(p)) and p.min() >= 0
        assert abs(p.mean() - lam) < 0.03 * lam + 0.01
        assert abs(p.var() - lam) < 0.06 * lam + 0.02
    b = rnd.bernoulli(prob=0.3, size=(100000,)).asnumpy()
    assert set(onp.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.3) < 0.01
    b = rnd.bernoulli(logit=onp.log(0.8 / 0.2), size=(100000,)).asnumpy()
    assert abs(b.mean() - 0.8) < 0.01
    with pytest.raises(Exception):
        rnd.bernoulli()
    with pytest.raises(Exception):
        rnd.bernoulli(prob=1.5)


def test_array_parameters_broadcast():
    rnd.seed(5)
    low = np.array([0.0, 10.0, 100.0])
    x = rnd.uniform(low, low + 1, size=(20000, 3)).asnumpy()
    assert x.shape == (20000, 3)
    assert onp.all(x >= low.asnumpy()) and onp.all(x < low.asnumpy() + 1)
    onp.testing.assert_allclose(x.mean(0), low.asnumpy() + 0.5, atol=0.02)
    y = rnd.normal(np.array([[0.0], [5.0]]), 1.0)
    assert y.shape == (2, 1)
    s = rnd.normal(loc=0.0, scale=np.array([1.0, 10.0]), size=(50000, 2)).asnumpy()
    onp.testing.assert_allclose(s.std(0), [1.0, 10.0], rtol=0.03)
    g = rnd.gamma(np.array([1.0, 9.0]), size=(50000, 2)).asnumpy()
    onp.testing.assert_allclose(g.mean(0), [1.0, 9.0], rtol=0.03)
    b = rnd.bernoulli(prob=np.array([0.0, 1.0, 0.5]), size=(1000, 3)).asnumpy()
    assert b[:, 0].sum() == 0 and b[:, 1].sum() == 1000
    assert rnd.uniform_n(low, 5.0, batch_shape=(4,)).shape == (4, 3)
    assert rnd.normal_n(0.0, 1.0, batch_shape=(2, 2)).shape == (2, 2)
    with pytest.raises(Exception, match="broadcast"):
        rnd.uniform(low, 5.0, size=(2, 2))
    nd = mx.random.normal(np.array([0.0, 100.0]).as_nd_ndarray(), np.array([1.0, 1.0]).as_nd_ndarray(), shape=(500,))
    assert nd.shape == (2, 500)
    onp.testing.assert_allclose(nd.asnumpy().mean(1), [0, 100], atol=0.3)


def test_choice():
    rnd.seed(6)
    x = rnd.choice(10, size=(30000,)).asnumpy()
    assert x.dtype == onp.int64 and x.min() == 0 and x.max() == 9
    assert onp.all(onp.abs(onp.bincount(x) / 3000 - 1) < 0.1)
    for n, k in ((10, 10), (50, 7), (10 ** 9, 20)):
        s = rnd.choice(n, size=k, replace=False).asnumpy()
        assert len(set(s.tolist())) == k and s.min() >= 0 and s.max() < n
    perm = rnd.choice(12, 12, replace=False).asnumpy()
    assert sorted(perm.tolist()) == list(range(12))
    p = onp.array([0.1, 0.0, 0.6, 0.3])
    w = rnd.choice(4, size=(40000,), p=p).asnumpy()
    onp.testing.assert_allclose(onp.bincount(w, minlength=4) / 40000, p, atol=0.01)
    w = rnd.choice(4, size=3, replace=False, p=np.array(p)).asnumpy()
    assert sorted(w.tolist()) == [0, 2, 3]
    # without replacement, the first draw follows p
    firsts = onp.array([rnd.choice(4, 2, replace=False, p=p).asnumpy()[0] for _ in range(600)])
    assert abs((firsts == 2).mean() - 0.6) < 0.08
    a = np.array([1.5, 2.5, 3.5], dtype="float64")
    c = rnd.choice(a, size=(2, 2))
    assert c.shape == (2, 2) and c.dtype == onp.float64 and set(c.asnumpy().ravel()) <= {1.5, 2.5, 3.5}
    assert rnd.choice(5).shape == ()
    with pytest.raises(Exception, match="larger sample"):
        rnd.choice(3, 4, replace=False)
    with pytest.raises(Exception, match="sum to 1"):
        rnd.choice(3, 2, p=[0.5, 0.2, 0.2])
    with pytest.raises(Exception, match="non-zero"):
        rnd.choice(3, 2, replace=False, p=[1.0, 0.0, 0.0])


def test_shuffle_and_permutation():
    rnd.seed(9)
    x = np.array(onp.arange(40).reshape(10, 4))
    before = x.asnumpy().copy()
    assert rnd.shuffle(x) is None
    after = x.asnumpy()
    assert not onp.array_equal(before, after)
    # rows move whole
    assert sorted(map(tuple, after.tolist())) == sorted(map(tuple, before.tolist()))
    p = rnd.permutation(15).asnumpy()
    assert sorted(p.tolist()) == list(range(15))
    y = np.array([3.0, 1.0, 2.0])
    q = rnd.permutation(y)
    assert sorted(q.asnumpy().tolist()) == [1.0, 2.0, 3.0]
    onp.testing.assert_array_equal(y.asnumpy(), [3.0, 1.0, 2.0])
    s = mx.random.shuffle(np.array([[1, 2], [3, 4], [5, 6]]).as_nd_ndarray())
    assert sorted(map(tuple, s.asnumpy().tolist())) == [(1, 2), (3, 4), (5, 6)]
    # all permutations of 3 show up
    seen = {tuple(rnd.permutation(3).asnumpy().tolist()) for _ in range(200)}
    assert len(seen) == 6


def test_sampling_not_recorded():
    low = np.array([0.0, 1.0])
    low.attach_grad()
    with mx.autograd.record():
        y = rnd.uniform(low, 2.0)
    assert not mx._core.in_graph(y._t)
