"""A step-by-step NumPy reference of MXNet's fused RNN op, written from the documented formulas, and
the packing of its flat parameter vector (MXNet's: all weights, then all biases)."""
import numpy as onp

GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


def sigmoid(x):
    return 1.0 / (1.0 + onp.exp(-x))


def layout(mode, num_layers, hidden, dirs, input_size, proj=None):
    """[(name, shape)] in packing order."""
    g, r = GATES[mode], proj or hidden
    weights, biases, ni = [], [], input_size
    for layer in range(num_layers):
        for d in "lr"[:dirs]:
            weights += [(f"{d}{layer}_i2h_weight", (g * hidden, ni)), (f"{d}{layer}_h2h_weight", (g * hidden, r))]
            if proj:
                weights.append((f"{d}{layer}_h2r_weight", (r, hidden)))
            biases += [(f"{d}{layer}_i2h_bias", (g * hidden,)), (f"{d}{layer}_h2h_bias", (g * hidden,))]
        ni = r * dirs
    return weights + biases


def unpack(params, mode, num_layers, hidden, dirs, input_size, proj=None):
    out, off = {}, 0
    for name, shape in layout(mode, num_layers, hidden, dirs, input_size, proj):
        n = int(onp.prod(shape))
        out[name] = params[off:off + n].reshape(shape)
        off += n
    assert off == params.size, (off, params.size)
    return out


def pack(named, mode, num_layers, hidden, dirs, input_size, proj=None):
    return onp.concatenate([named[n].reshape(-1) for n, _ in layout(mode, num_layers, hidden, dirs, input_size,
                                                                      proj)])


def step(mode, x, h, c, w, pre, clip=None, clip_nan=False):
    wx, wh, bx, bh = w[pre + "i2h_weight"], w[pre + "h2h_weight"], w[pre + "i2h_bias"], w[pre + "h2h_bias"]
    gx, gh = x @ wx.T + bx, h @ wh.T + bh
    if mode == "lstm":
        i, f, g, o = onp.split(gx + gh, 4, axis=-1)
        i, f, g, o = sigmoid(i), sigmoid(f), onp.tanh(g), sigmoid(o)
        c = f * c + i * g
        if clip is not None:
            nan = onp.isnan(c)
            c = onp.clip(c, clip[0], clip[1])
            if clip_nan:
                c = onp.where(nan, clip[0], c)
        hn = o * onp.tanh(c)
        if pre + "h2r_weight" in w:
            hn = hn @ w[pre + "h2r_weight"].T
        return hn, c
    if mode == "gru":
        xr, xz, xn = onp.split(gx, 3, axis=-1)
        hr, hz, hn = onp.split(gh, 3, axis=-1)
        r, z = sigmoid(xr + hr), sigmoid(xz + hz)
        n = onp.tanh(xn + r * hn)
        return (1 - z) * n + z * h, None
    a = gx + gh
    return (onp.maximum(a, 0) if mode == "rnn_relu" else onp.tanh(a)), None


def rnn(mode, x, params, h0, c0, num_layers, hidden, dirs, proj=None, clip=None, clip_nan=False, lengths=None,
        masks=None):
    """(out, hy, cy) for data x (T, N, I). ``masks[l]`` multiplies the input of layer l (dropout)."""
    t_len, _, input_size = x.shape
    w = unpack(params, mode, num_layers, hidden, dirs, input_size, proj)
    r = proj or hidden
    inp, hy, cy = x, [], []
    for layer in range(num_layers):
        if masks is not None and layer > 0:
            inp = inp * masks[layer]
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            h, c = h0[k], (c0[k] if mode == "lstm" else None)
            y = onp.zeros(inp.shape[:2] + (r,))
            for t in (range(t_len) if d == 0 else reversed(range(t_len))):
                hn, cn = step(mode, inp[t], h, c, w, f"{'lr'[d]}{layer}_", clip, clip_nan)
                if lengths is None:
                    h, c, y[t] = hn, cn, hn
                else:
                    live = (t < lengths)[:, None]
                    h = onp.where(live, hn, h)
                    if c is not None:
                        c = onp.where(live, cn, c)
                    y[t] = onp.where(live, hn, 0)
            outs.append(y)
            hy.append(h)
            cy.append(c)
        inp = onp.concatenate(outs, axis=2)
    return inp, onp.stack(hy), (onp.stack(cy) if mode == "lstm" else None)
