//! Convolution ops: MXNet's `Convolution` and `Deconvolution` over 1-3 spatial dims, in NC*
//! (NCW/NCHW/NCDHW) or channel-last (NWC/NHWC/NDHWC) layouts, with groups, dilation, bias and
//! our optional fused `act_type`, and the two internal ops their gradients are made of:
//! `_backward_Convolution_data` (the transposed convolution: GEMM, then col2im) and
//! `_backward_Convolution_weight` (im2col, then GEMM against the output gradient).
//!
//! Three kernels do all the work, each an im2col/col2im walk plus the project's GEMM, over the
//! batch in chunks so the column buffer stays bounded:
//! - `conv_fwd`: `y = W . im2col(x)` (Convolution forward; the data gradient of Deconvolution),
//! - `conv_data`: `dx = col2im(W^T . dy)` (the data gradient of Convolution; Deconvolution forward),
//! - `conv_weight`: `dW = sum_b dy . im2col(x)^T` (both ops' weight gradients).
//!
//! The column matrix of one batch item is `(group, C/group, taps, out positions)` for NC* data and
//! `(group, out positions, taps, C/group)` for channel-last data, so that per group it is a plain
//! `(C/g*K) x P` or `P x (K*C/g)` matrix matching the weight read as `(F, C/g*K)` resp.
//! `(F, K*C/g)`: channel-last data is computed natively, never transposed through NC*. A 1x1
//! stride-1 unpadded convolution uses the data itself as the column matrix (no im2col).
//!
//! Each kernel's gradient is another of the three, so gradients of any order compose from them.
//!
//! In float32 on a CPU with AVX2 and FMA, NC* forward and data kernels with stride 1 along the last
//! axis (the data kernel: stride 1 everywhere) run as direct convolutions instead
//! (`backend/cpu/direct_conv.rs`): no column matrix, twice as fast on a ResNet block's 3x3s.
use super::layers::{check_float, sh, with_slice, work_dtype};
use super::nn::{act_grad, with_const_act, Act};
use super::{apply1, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::backend::cpu::direct_conv::Direct;
use crate::backend::cpu::matmul::{batched_gemm, GemmElem, MatRef};
use crate::backend::cpu::{self, num::Real};
use crate::layout::numel;
use crate::storage::CpuElement;
use crate::{DType, Error, Result, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

/// Column-buffer elements per chunk of the batch (2M: 8 MB in float32). Small enough that the
/// columns are still in cache when the GEMM reads them: a 64 MB buffer made a ResNet block's
/// 3x3 convolutions memory-bound.
const COL_BUDGET: usize = 1 << 21;

fn col_budget() -> usize {
    #[cfg(test)]
    {
        let b = tests::BUDGET.with(|b| b.get());
        if b > 0 {
            return b;
        }
    }
    COL_BUDGET
}

// ---------------------------------------------------------------------------------------------
// Geometry

/// The attributes that fix a convolution's geometry (for Deconvolution: the convolution it is the
/// transpose of), and those accepted for compatibility only.
#[derive(Clone, Debug)]
pub struct ConvSpec {
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub dilate: Vec<usize>,
    pub pad: Vec<usize>,
    pub num_group: usize,
    /// As given (None: NC* by rank); `channels_last` is what it means.
    pub layout: Option<String>,
    pub channels_last: bool,
    pub workspace: i64,
    pub cudnn_tune: Option<String>,
    pub cudnn_off: bool,
}

/// Everything one kernel call needs, spatial dims padded to three with leading size-1 dims.
/// `img` is the convolution's input side (`c` channels), `out` its output side (`f` channels).
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    c: usize,
    f: usize,
    g: usize,
    img: [usize; 3],
    out: [usize; 3],
    k: [usize; 3],
    s: [usize; 3],
    d: [usize; 3],
    p: [usize; 3],
    cl: bool,
}

fn pad3(v: &[usize], fill: usize) -> [usize; 3] {
    let mut a = [fill; 3];
    a[3 - v.len()..].copy_from_slice(v);
    a
}

impl ConvSpec {
    fn rank(&self) -> usize {
        self.kernel.len()
    }
    fn layout_name(&self) -> &'static str {
        match (self.channels_last, self.rank()) {
            (false, 1) => "NCW",
            (false, 2) => "NCHW",
            (false, _) => "NCDHW",
            (true, 1) => "NWC",
            (true, 2) => "NHWC",
            (true, _) => "NDHWC",
        }
    }
    /// (batch, channels, spatial) of a shape in this layout.
    fn split<'a>(&self, s: &'a [usize]) -> (usize, usize, &'a [usize]) {
        if self.channels_last {
            (s[0], s[s.len() - 1], &s[1..s.len() - 1])
        } else {
            (s[0], s[1], &s[2..])
        }
    }
    fn join(&self, n: usize, c: usize, sp: &[usize]) -> Vec<usize> {
        let mut v = vec![n];
        if self.channels_last {
            v.extend_from_slice(sp);
            v.push(c);
        } else {
            v.push(c);
            v.extend_from_slice(sp);
        }
        v
    }
    /// The weight of a convolution from `cg` channels a group into `f` filters.
    fn weight_shape(&self, f: usize, cg: usize) -> Vec<usize> {
        self.join(f, cg, &self.kernel)
    }
    /// The axes a bias gradient sums over: all but the channel axis.
    fn non_channel_axes(&self) -> Vec<isize> {
        let r = self.rank() as isize;
        if self.channels_last {
            (0..=r).collect()
        } else {
            std::iter::once(0).chain(2..r + 2).collect()
        }
    }
    fn dilated(&self, i: usize) -> usize {
        self.dilate[i] * (self.kernel[i] - 1) + 1
    }
    fn check_rank(&self, op: &str, what: &str, s: &[usize]) -> Result<()> {
        if s.len() != self.rank() + 2 {
            return Err(Error::shape(
                op,
                format!(
                    "{what} must have {} dimensions ({}) for kernel {}, got shape {}",
                    self.rank() + 2,
                    self.layout_name(),
                    sh(&self.kernel),
                    sh(s)
                ),
            ));
        }
        Ok(())
    }
    /// The geometry of this convolution of `img` (in this layout) into `f` channels; checks that
    /// the dilated kernel fits the padded input.
    fn geom(&self, op: &str, img: &[usize], f: usize) -> Result<Geom> {
        self.check_rank(op, "data", img)?;
        let (n, c, sp) = self.split(img);
        let mut out = Vec::with_capacity(self.rank());
        for (i, &x) in sp.iter().enumerate() {
            let padded = x + 2 * self.pad[i];
            let dk = self.dilated(i);
            if dk > padded {
                return Err(Error::shape(
                    op,
                    format!(
                        "kernel {} with dilate {} spans {dk} along spatial axis {i}, more than \
                         the padded input ({} + 2*{} = {padded}) of data shape {}",
                        sh(&self.kernel),
                        sh(&self.dilate),
                        x,
                        self.pad[i],
                        sh(img)
                    ),
                ));
            }
            out.push((padded - dk) / self.stride[i] + 1);
        }
        Ok(Geom {
            n,
            c,
            f,
            g: self.num_group,
            img: pad3(sp, 1),
            out: pad3(&out, 1),
            k: pad3(&self.kernel, 1),
            s: pad3(&self.stride, 1),
            d: pad3(&self.dilate, 1),
            p: pad3(&self.pad, 0),
            cl: self.channels_last,
        })
    }
    fn attrs(&self) -> Attrs {
        let ints = |v: &[usize]| Attr::Ints(v.iter().map(|&x| x as i64).collect());
        let opt = |s: &Option<String>| s.clone().map_or(Attr::None, Attr::Str);
        Attrs::new()
            .with("kernel", ints(&self.kernel))
            .with("stride", ints(&self.stride))
            .with("dilate", ints(&self.dilate))
            .with("pad", ints(&self.pad))
            .with("num_group", Attr::Int(self.num_group as i64))
            .with("workspace", Attr::Int(self.workspace))
            .with("cudnn_tune", opt(&self.cudnn_tune))
            .with("cudnn_off", Attr::Bool(self.cudnn_off))
            .with("layout", opt(&self.layout))
    }
}

impl Geom {
    fn img_len(&self) -> usize {
        self.img.iter().product()
    }
    /// Output positions.
    fn pos(&self) -> usize {
        self.out.iter().product()
    }
    /// Kernel taps.
    fn taps(&self) -> usize {
        self.k.iter().product()
    }
    fn cg(&self) -> usize {
        self.c / self.g
    }
    fn fg(&self) -> usize {
        self.f / self.g
    }
    /// The reduction length of one group's product: C/g * K.
    fn ck(&self) -> usize {
        self.cg() * self.taps()
    }
    /// Elements of one batch item: input side, output side, column matrix.
    fn x_len(&self) -> usize {
        self.c * self.img_len()
    }
    fn y_len(&self) -> usize {
        self.f * self.pos()
    }
    fn col_len(&self) -> usize {
        self.c * self.taps() * self.pos()
    }
    /// A 1x1, stride-1, unpadded convolution: the data is its own column matrix.
    fn pointwise(&self) -> bool {
        self.taps() == 1 && self.s == [1; 3] && self.p == [0; 3]
    }
    /// Batch items per chunk.
    fn chunk(&self) -> usize {
        (col_budget() / self.col_len().max(1)).clamp(1, self.n.max(1))
    }
    /// Index along spatial axis `a` of the input read by output index `o` at tap `q`.
    #[inline]
    fn src(&self, a: usize, o: usize, q: usize) -> Option<usize> {
        let i = (o * self.s[a] + q * self.d[a]) as isize - self.p[a] as isize;
        (i >= 0 && (i as usize) < self.img[a]).then_some(i as usize)
    }
    /// Walks one batch item's column matrix as runs: `f(col, src, len, step)` says that
    /// `col[col..col + len]` holds `x[src + i * step]` (or zeros: padding, when `src` is None).
    /// im2col and col2im are this one walk with a copy resp. an add at the leaves.
    fn walk(&self, mut f: impl FnMut(usize, Option<usize>, usize, usize)) {
        let [od, oh, ow] = self.out;
        let [_, ih, iw] = self.img;
        let [kd, kh, kw] = self.k;
        let (kk, p) = (self.taps(), self.pos());
        if !self.cl {
            // Runs along the output's last axis: strided reads of one input row.
            let (sx, ilen) = (self.s[2], self.img_len());
            for c in 0..self.c {
                for kz in 0..kd {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let base = (c * kk + (kz * kh + ky) * kw + kx) * p;
                            // Input column ox * sx + off is inside [0, iw) for ox in lo..hi.
                            let off = (kx * self.d[2]) as isize - self.p[2] as isize;
                            let lo = if off >= 0 {
                                0
                            } else {
                                ((-off) as usize).div_ceil(sx).min(ow)
                            };
                            let hi = if iw as isize <= off {
                                0
                            } else {
                                ((iw as isize - off) as usize).div_ceil(sx).min(ow)
                            }
                            .max(lo);
                            for oz in 0..od {
                                let iz = self.src(0, oz, kz);
                                for oy in 0..oh {
                                    let cs = base + (oz * oh + oy) * ow;
                                    match (iz, self.src(1, oy, ky)) {
                                        (Some(iz), Some(iy)) => {
                                            if lo > 0 {
                                                f(cs, None, lo, 0);
                                            }
                                            if hi > lo {
                                                let x0 = (lo * sx) as isize + off;
                                                let s0 = c * ilen + (iz * ih + iy) * iw;
                                                f(cs + lo, Some(s0 + x0 as usize), hi - lo, sx);
                                            }
                                            if hi < ow {
                                                f(cs + hi, None, ow - hi, 0);
                                            }
                                        }
                                        _ => f(cs, None, ow, 0),
                                    }
                                }
                            }
                        }
                    }
                }
            }
        } else {
            // Runs of one group's channels at one (position, tap): contiguous in the input.
            let cg = self.cg();
            for gi in 0..self.g {
                for oz in 0..od {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let pos = (oz * oh + oy) * ow + ox;
                            for kz in 0..kd {
                                let iz = self.src(0, oz, kz);
                                for ky in 0..kh {
                                    let iy = self.src(1, oy, ky);
                                    for kx in 0..kw {
                                        let tap = (kz * kh + ky) * kw + kx;
                                        let cs = ((gi * p + pos) * kk + tap) * cg;
                                        let src = match (iz, iy, self.src(2, ox, kx)) {
                                            (Some(iz), Some(iy), Some(ix)) => {
                                                Some(((iz * ih + iy) * iw + ix) * self.c + gi * cg)
                                            }
                                            _ => None,
                                        };
                                        f(cs, src, cg, 1);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels

/// `d.copy_from_slice(s)` for the short runs of im2col (an image row): two overlapping
/// fixed-size moves, as a memmove call per run cost more than the copy (a loop of fixed moves
/// is turned back into that call).
#[inline(always)]
fn copy_run<T: Copy>(d: &mut [T], s: &[T]) {
    fn two<T: Copy, const W: usize>(d: &mut [T], s: &[T]) {
        let n = d.len();
        for at in [0, n - W] {
            let d: &mut [T; W] = (&mut d[at..at + W]).try_into().expect("W elements");
            *d = *<&[T; W]>::try_from(&s[at..at + W]).expect("W elements");
        }
    }
    match d.len() {
        8..=16 => two::<T, 8>(d, s),
        17..=32 => two::<T, 16>(d, s),
        33..=64 => two::<T, 32>(d, s),
        _ => d.copy_from_slice(s),
    }
}

fn im2col<T: Real>(g: &Geom, x: &[T], col: &mut [T]) {
    g.walk(|c, src, len, step| {
        let dst = &mut col[c..c + len];
        match src {
            None if len == 1 => dst[0] = T::zero(),
            None => dst.fill(T::zero()),
            Some(s) if step == 1 => copy_run(dst, &x[s..s + len]),
            Some(s) => dst
                .iter_mut()
                .enumerate()
                .for_each(|(i, d)| *d = x[s + i * step]),
        }
    });
}

fn col2im<T: Real>(g: &Geom, col: &[T], x: &mut [T]) {
    g.walk(|c, src, len, step| {
        if let Some(s) = src {
            let from = &col[c..c + len];
            if step == 1 {
                x[s..s + len]
                    .iter_mut()
                    .zip(from)
                    .for_each(|(o, &v)| *o = *o + v);
            } else {
                for (i, &v) in from.iter().enumerate() {
                    x[s + i * step] = x[s + i * step] + v;
                }
            }
        }
    });
}

/// How a kernel walks the batch: (items per piece, pieces in parallel). With at least one item
/// per thread the items run in parallel, one at a time on each thread, so that each thread's
/// column buffer stays in its cache and its products stay on it (gemm threads poorly on the
/// tall, narrow products of one item). Otherwise the batch goes in chunks that fit the column
/// budget, each product using every thread.
fn plan(g: &Geom) -> (usize, bool) {
    let t = cpu::num_threads();
    let par = t > 1 && g.n >= t && rayon::current_thread_index().is_none();
    #[cfg(test)]
    let par = par && tests::BUDGET.with(|b| b.get()) == 0;
    if par {
        (1, true)
    } else {
        (g.chunk(), false)
    }
}

/// `f(scratch, piece of a, piece of b)` over matching pieces of `al` resp. `bl` elements, in
/// parallel when `par`, with one `init()` scratch per rayon job (not per piece).
fn pieces<A: Sync, B: Send, S>(
    par: bool,
    a: &[A],
    al: usize,
    b: &mut [B],
    bl: usize,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, &[A], &mut [B]) -> Result<()> + Sync + Send,
) -> Result<()> {
    if al == 0 || bl == 0 {
        return Ok(());
    }
    if par {
        a.par_chunks(al)
            .zip(b.par_chunks_mut(bl))
            .try_for_each_init(init, |s, (a, b)| f(s, a, b))
    } else {
        let mut s = init();
        a.chunks(al)
            .zip(b.chunks_mut(bl))
            .try_for_each(|(a, b)| f(&mut s, a, b))
    }
}

/// `f(item of a, item of b)` over the items of a chunk, in parallel when it pays.
fn per_item<A: Sync, B: Send>(
    a: &[A],
    al: usize,
    b: &mut [B],
    bl: usize,
    f: impl Fn(&[A], &mut [B]) + Sync + Send,
) -> Result<()> {
    let par = b.len() > bl && cpu::parallel(b.len().max(a.len()));
    pieces(
        par,
        a,
        al,
        b,
        bl,
        || (),
        |_, a, b| {
            f(a, b);
            Ok(())
        },
    )
}

/// One operand of a batched product over (item, group) pairs: matrix (b, gi) starts at
/// `b * item + gi * group`.
fn mats<T>(
    data: &[T],
    items: usize,
    item: usize,
    groups: usize,
    group: usize,
    rs: usize,
    cs: usize,
) -> MatRef<'_, T> {
    MatRef {
        data,
        offsets: (0..items)
            .flat_map(|b| (0..groups).map(move |gi| b * item + gi * group))
            .collect(),
        rs: rs as isize,
        cs: cs as isize,
    }
}

/// The column matrices of the items of `x`, built in `buf` or (pointwise) `x` itself:
/// (data, elements per item, offset step per group, row stride for channel-last).
fn columns<'a, T: Real>(
    g: &Geom,
    x: &'a [T],
    buf: &'a mut [T],
) -> Result<(&'a [T], usize, usize, usize)> {
    if g.pointwise() {
        // Item (C, P) for NC*, (P, C) channel-last: group gi's block starts at gi*Cg*P or gi*Cg.
        let gstep = if g.cl { g.cg() } else { g.cg() * g.pos() };
        return Ok((x, g.x_len(), gstep, g.c));
    }
    let (cl, m) = (g.col_len(), x.len() / g.x_len());
    per_item(x, g.x_len(), &mut buf[..m * cl], cl, |x, c| im2col(g, x, c))?;
    Ok((&buf[..m * cl], cl, g.ck() * g.pos(), g.ck()))
}

/// Column buffer elements for pieces of `nb` items.
fn col_buf(g: &Geom, nb: usize) -> usize {
    if g.pointwise() {
        0
    } else {
        nb * g.col_len()
    }
}

/// `y = conv(x, w)` for contiguous x (N, img) and w (F, C/g*K) into y (N, out).
fn conv_fwd<T: GemmElem + Real>(g: &Geom, x: &[T], w: &[T], y: &mut [T]) -> Result<()> {
    let (nb, par) = plan(g);
    let (cols, yl) = (col_buf(g, nb), g.y_len());
    let tmp = if g.cl && g.g > 1 { nb * yl } else { 0 };
    let init = || (vec![T::zero(); cols], vec![T::zero(); tmp]);
    pieces(par, x, nb * g.x_len(), y, nb * yl, init, |s, xs, ys| {
        fwd_piece(g, xs, w, ys, &mut s.0, &mut s.1)
    })
}

fn fwd_piece<T: GemmElem + Real>(
    g: &Geom,
    xs: &[T],
    w: &[T],
    ys: &mut [T],
    buf: &mut [T],
    tmp: &mut [T],
) -> Result<()> {
    let (p, ck, fg, gr, yl) = (g.pos(), g.ck(), g.fg(), g.g, g.y_len());
    let m = ys.len() / yl;
    let (cols, item, gstep, rs) = columns(g, xs, buf)?;
    if !g.cl {
        // y[b, gi] (Fg x P) = W[gi] (Fg x CgK) . col[b, gi] (CgK x P)
        let a = mats(w, m, 0, gr, fg * ck, ck, 1);
        let b = mats(cols, m, item, gr, gstep, p, 1);
        batched_gemm(fg, p, ck, &a, &b, ys)
    } else if gr == 1 {
        // y (mP x F) = col (mP x KC) . W^T (KC x F): one product for the piece.
        let a = mats(cols, 1, 0, 1, 0, rs, 1);
        let b = mats(w, 1, 0, 1, 0, 1, ck);
        batched_gemm(m * p, fg, ck, &a, &b, ys)
    } else {
        // y[b, :, gi] (P x Fg) = col[b, gi] (P x KCg) . W[gi]^T, via (b, gi, P, Fg).
        let a = mats(cols, m, item, gr, gstep, rs, 1);
        let b = mats(w, m, 0, gr, fg * ck, 1, ck);
        let t = &mut tmp[..m * yl];
        batched_gemm(p, fg, ck, &a, &b, t)?;
        for (bt, by) in t.chunks(yl).zip(ys.chunks_mut(yl)) {
            for (gi, tg) in bt.chunks(p * fg).enumerate() {
                for (row, src) in by.chunks_mut(g.f).zip(tg.chunks(fg)) {
                    row[gi * fg..(gi + 1) * fg].copy_from_slice(src);
                }
            }
        }
        Ok(())
    }
}

/// `dx = conv^T(dy, w)` (data gradient / transposed convolution) into zeroed dx (N, img).
fn conv_data<T: GemmElem + Real>(g: &Geom, dy: &[T], w: &[T], dx: &mut [T]) -> Result<()> {
    let (nb, par) = plan(g);
    let cols = if direct_data(g) { 0 } else { nb * g.col_len() };
    let init = || vec![T::zero(); cols];
    pieces(
        par,
        dy,
        nb * g.y_len(),
        dx,
        nb * g.x_len(),
        init,
        |buf, dys, dxs| data_piece(g, dys, w, dxs, buf),
    )
}

/// Pointwise with a column layout equal to the data's: the product writes dx directly.
fn direct_data(g: &Geom) -> bool {
    g.pointwise() && (!g.cl || g.g == 1)
}

fn data_piece<T: GemmElem + Real>(
    g: &Geom,
    dys: &[T],
    w: &[T],
    dxs: &mut [T],
    buf: &mut [T],
) -> Result<()> {
    let (p, ck, fg, gr) = (g.pos(), g.ck(), g.fg(), g.g);
    let (yl, cl) = (g.y_len(), g.col_len());
    let m = dys.len() / yl;
    let direct = direct_data(g);
    {
        let out: &mut [T] = if direct {
            &mut *dxs
        } else {
            &mut buf[..m * cl]
        };
        if !g.cl {
            // col[b, gi] (CgK x P) = W[gi]^T (CgK x Fg) . dy[b, gi] (Fg x P)
            let a = mats(w, m, 0, gr, fg * ck, 1, ck);
            let b = mats(dys, m, yl, gr, fg * p, p, 1);
            batched_gemm(ck, p, fg, &a, &b, out)?;
        } else if gr == 1 {
            // col (mP x KC) = dy (mP x F) . W (F x KC)
            let a = mats(dys, 1, 0, 1, 0, g.f, 1);
            let b = mats(w, 1, 0, 1, 0, ck, 1);
            batched_gemm(m * p, ck, fg, &a, &b, out)?;
        } else {
            // col[b, gi] (P x KCg) = dy[b, :, gi] (P x Fg) . W[gi] (Fg x KCg)
            let a = mats(dys, m, yl, gr, fg, g.f, 1);
            let b = mats(w, m, 0, gr, fg * ck, ck, 1);
            batched_gemm(p, ck, fg, &a, &b, out)?;
        }
    }
    if direct {
        return Ok(());
    }
    per_item(&buf[..m * cl], cl, dxs, g.x_len(), |c, x| col2im(g, c, x))
}

/// `dw = sum over the batch of dy . im2col(x)^T` into zeroed dw (F, C/g*K). Parallel pieces
/// sum into their own accumulators, added up at the end.
fn conv_weight<T: GemmElem + Real>(g: &Geom, x: &[T], dy: &[T], dw: &mut [T]) -> Result<()> {
    if dw.is_empty() || g.pos() == 0 {
        return Ok(());
    }
    let (nb, par) = plan(g);
    let (xl, yl, wl) = (nb * g.x_len(), nb * g.y_len(), dw.len());
    let (cols, parts) = (col_buf(g, nb), if g.cl && g.g == 1 { wl } else { nb * wl });
    let init = || (vec![T::zero(); cols], vec![T::zero(); parts]);
    if !par {
        let (mut buf, mut part) = init();
        for (xs, dys) in x.chunks(xl).zip(dy.chunks(yl)) {
            weight_piece(g, xs, dys, &mut buf, &mut part, dw)?;
        }
        return Ok(());
    }
    let sum = x
        .par_chunks(xl)
        .zip(dy.par_chunks(yl))
        .try_fold(
            || (init(), vec![T::zero(); wl]),
            |(mut s, mut acc), (xs, dys)| {
                weight_piece(g, xs, dys, &mut s.0, &mut s.1, &mut acc)?;
                Ok::<_, Error>((s, acc))
            },
        )
        .map(|r| r.map(|(_, acc)| acc))
        .try_reduce(
            || vec![T::zero(); wl],
            |mut a, b| {
                add_to(&mut a, &b);
                Ok(a)
            },
        )?;
    dw.copy_from_slice(&sum);
    Ok(())
}

fn add_to<T: Real>(acc: &mut [T], v: &[T]) {
    acc.iter_mut().zip(v).for_each(|(o, &v)| *o = *o + v);
}

/// Adds one piece's weight gradient to `acc`.
fn weight_piece<T: GemmElem + Real>(
    g: &Geom,
    xs: &[T],
    dys: &[T],
    buf: &mut [T],
    part: &mut [T],
    acc: &mut [T],
) -> Result<()> {
    let (p, ck, fg, gr) = (g.pos(), g.ck(), g.fg(), g.g);
    let (yl, wl) = (g.y_len(), acc.len());
    let m = dys.len() / yl;
    let (cols, item, gstep, rs) = columns(g, xs, buf)?;
    let part = if g.cl && gr == 1 {
        // dW (F x KC) = dy^T (F x mP) . col (mP x KC): one product for the piece.
        let a = mats(dys, 1, 0, 1, 0, 1, g.f);
        let b = mats(cols, 1, 0, 1, 0, rs, 1);
        batched_gemm(g.f, ck, m * p, &a, &b, part)?;
        &part[..]
    } else {
        let out = &mut part[..m * wl];
        if !g.cl {
            // part[b, gi] (Fg x CgK) = dy[b, gi] (Fg x P) . col[b, gi]^T (P x CgK)
            let a = mats(dys, m, yl, gr, fg * p, p, 1);
            let b = mats(cols, m, item, gr, gstep, 1, p);
            batched_gemm(fg, ck, p, &a, &b, out)?;
        } else {
            // part[b, gi] (Fg x KCg) = dy[b, :, gi]^T (Fg x P) . col[b, gi] (P x KCg)
            let a = mats(dys, m, yl, gr, fg, 1, g.f);
            let b = mats(cols, m, item, gr, gstep, rs, 1);
            batched_gemm(fg, ck, p, &a, &b, out)?;
        }
        &part[..m * wl]
    };
    for pb in part.chunks(wl) {
        add_to(acc, pb);
    }
    Ok(())
}

/// `o = f(o + bias[channel])` over `out` viewed as (outer, ch, inner).
fn bias_act<T: Real>(
    out: &mut [T],
    ch: usize,
    inner: usize,
    bias: Option<&[T]>,
    f: impl Fn(T) -> T + Sync,
) {
    let plane = ch * inner;
    if plane == 0 {
        return;
    }
    let run = |o: &mut [T]| {
        for o in o.chunks_mut(plane) {
            for (c, row) in o.chunks_mut(inner).enumerate() {
                let b = bias.map_or(T::zero(), |b| b[c]);
                row.iter_mut().for_each(|v| *v = f(*v + b));
            }
        }
    };
    if cpu::parallel(out.len()) {
        let per = plane * (4096 / plane).max(1);
        out.par_chunks_mut(per).for_each(run);
    } else {
        run(out);
    }
}

fn finish<T: Real>(out: &mut [T], ch: usize, inner: usize, bias: Option<&[T]>, act: Option<Act>) {
    match act {
        None if bias.is_none() => {}
        None => bias_act(out, ch, inner, bias, |v| v),
        Some(a) => with_const_act!(a, A => bias_act(out, ch, inner, bias, |v| A.f(v))),
    }
}

#[derive(Clone, Copy)]
enum Kernel {
    Fwd,
    Data,
    Weight,
}

/// Where a bias and activation go: the output's channel count and the elements per channel run
/// (the spatial size for NC*, 1 for channel-last).
struct Epilogue<'a> {
    bias: Option<&'a Tensor>,
    act: Option<Act>,
    ch: usize,
    inner: usize,
}

const NO_EPILOGUE: Epilogue<'static> = Epilogue {
    bias: None,
    act: None,
    ch: 0,
    inner: 0,
};

/// The work dtypes, each with its way to run a kernel.
trait ConvElem: GemmElem + Real + CpuElement {
    fn conv(k: Kernel, g: &Geom, a: &[Self], b: &[Self], out: &mut [Self]) -> Result<()> {
        gemm_kernel(k, g, a, b, out)
    }
}

/// A kernel as im2col/col2im and GEMM.
fn gemm_kernel<T: GemmElem + Real>(
    k: Kernel,
    g: &Geom,
    a: &[T],
    b: &[T],
    out: &mut [T],
) -> Result<()> {
    match k {
        Kernel::Fwd => conv_fwd(g, a, b, out),
        Kernel::Data => conv_data(g, a, b, out),
        Kernel::Weight => conv_weight(g, a, b, out),
    }
}

impl ConvElem for f64 {}

impl ConvElem for f32 {
    /// The direct kernels take the forward and data kernels they can do (backend/cpu/direct_conv).
    fn conv(k: Kernel, g: &Geom, a: &[f32], b: &[f32], out: &mut [f32]) -> Result<()> {
        let Some(d) = direct(k, g) else {
            return gemm_kernel(k, g, a, b, out);
        };
        let (cg, fg, kk) = (g.cg(), g.fg(), g.taps());
        let w = if matches!(k, Kernel::Fwd) {
            d.pack(|f, c, t| b[(f * cg + c) * kk + t])
        } else {
            // The data gradient of a stride-1 convolution is a stride-1 convolution of dy with
            // the kernel flipped and in/out channels swapped within each group.
            d.pack(|c, fi, t| b[((c / cg * fg + fi) * cg + c % cg) * kk + kk - 1 - t])
        };
        d.run(a, &w, out, cpu::kernel_threads());
        Ok(())
    }
}

/// The direct kernel's form of the forward or data kernel of `g`, when it has one: NC* data,
/// not pointwise (a plain GEMM then), outputs rows of at least 4.
fn direct(k: Kernel, g: &Geom) -> Option<Direct> {
    if g.cl || g.pointwise() {
        return None;
    }
    let d = match k {
        Kernel::Fwd => Direct {
            c: g.c,
            f: g.f,
            g: g.g,
            img: g.img,
            out: g.out,
            k: g.k,
            s: g.s,
            d: g.d,
            p: g.p,
        },
        Kernel::Data => {
            if g.s != [1; 3] {
                return None;
            }
            let mut p = [0; 3];
            for (a, pa) in p.iter_mut().enumerate() {
                *pa = (g.d[a] * (g.k[a] - 1)).checked_sub(g.p[a])?;
            }
            Direct {
                c: g.f,
                f: g.c,
                g: g.g,
                img: g.out,
                out: g.img,
                k: g.k,
                s: [1; 3],
                d: g.d,
                p,
            }
        }
        Kernel::Weight => return None,
    };
    (d.out[2] >= 4 && d.usable()).then_some(d)
}

fn run_t<T: ConvElem>(
    op: &str,
    k: Kernel,
    g: &Geom,
    a: &Tensor,
    b: &Tensor,
    e: &Epilogue,
    shape: &[usize],
) -> Result<Tensor> {
    let mut out = vec![T::zero(); numel(shape)];
    with_slice::<T, _>(op, a, |sa| {
        with_slice::<T, _>(op, b, |sb| T::conv(k, g, sa, sb, &mut out))
    })?;
    match e.bias {
        Some(bt) => with_slice::<T, _>(op, bt, |bs| {
            finish(&mut out, e.ch, e.inner, Some(bs), e.act);
            Ok(())
        })?,
        None => finish(&mut out, e.ch, e.inner, None, e.act),
    }
    Tensor::from_vec(out, shape)
}

/// Runs a kernel in the work dtype (float64, else float32) and casts back to `a`'s dtype.
fn run(
    op: &str,
    k: Kernel,
    g: &Geom,
    a: &Tensor,
    b: &Tensor,
    e: &Epilogue,
    shape: &[usize],
) -> Result<Tensor> {
    let t = if work_dtype(a.dtype()) == DType::F64 {
        run_t::<f64>(op, k, g, a, b, e, shape)?
    } else {
        run_t::<f32>(op, k, g, a, b, e, shape)?
    };
    t.cast_to(a.dtype())
}

fn check_inputs(op: &str, i: &[Meta], no_bias: bool, names: [&str; 2]) -> Result<()> {
    let want = if no_bias { 2 } else { 3 };
    if i.len() != want {
        return Err(Error::value(
            op,
            format!(
                "expected {want} inputs ({}, {}{}), got {}",
                names[0],
                names[1],
                if no_bias { "" } else { ", bias" },
                i.len()
            ),
        ));
    }
    check_float(op, names[0], i[0].dtype)?;
    for (m, what) in i[1..].iter().zip([names[1], "bias"]) {
        if m.dtype != i[0].dtype {
            return Err(Error::dtype(
                op,
                format!("{what} is {} but {} is {}", m.dtype, names[0], i[0].dtype),
            ));
        }
    }
    Ok(())
}

/// The weight, `(outer, inner, *kernel)` (channel-last: `(outer, *kernel, inner)`) with `dims`
/// the two sizes and what they are, and the bias of `num_filter`, against data `i[0]`.
fn check_params(
    op: &str,
    spec: &ConvSpec,
    i: &[Meta],
    no_bias: bool,
    num_filter: usize,
    dims: [(usize, &str); 2],
) -> Result<()> {
    let [(outer, on), (inner, inn)] = dims;
    let form = if spec.channels_last {
        format!("({on}, *kernel, {inn})")
    } else {
        format!("({on}, {inn}, *kernel)")
    };
    let meaning = format!(
        "{form} for data of shape {} ({})",
        sh(&i[0].shape),
        spec.layout_name()
    );
    let ws = spec.weight_shape(outer, inner);
    check_shape(op, "weight", &i[1].shape, &ws, &meaning)?;
    if !no_bias {
        check_shape(op, "bias", &i[2].shape, &[num_filter], "(num_filter,)")?;
    }
    Ok(())
}

fn check_shape(op: &str, what: &str, got: &[usize], want: &[usize], meaning: &str) -> Result<()> {
    if got != want {
        return Err(Error::shape(
            op,
            format!(
                "{what} has shape {}, expected {meaning} = {}",
                sh(got),
                sh(want)
            ),
        ));
    }
    Ok(())
}

/// Channels of `c`, in groups: both counts must divide.
fn check_groups(op: &str, spec: &ConvSpec, data: &[usize], c: usize, nf: usize) -> Result<()> {
    let g = spec.num_group;
    if !c.is_multiple_of(g) {
        return Err(Error::shape(
            op,
            format!(
                "data of shape {} has {c} channels ({}), which num_group={g} does not divide",
                sh(data),
                spec.layout_name()
            ),
        ));
    }
    if !nf.is_multiple_of(g) {
        return Err(Error::value(
            op,
            format!("num_filter={nf} is not divisible by num_group={g}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Convolution

/// `Convolution(data, weight, bias=None, kernel, stride, dilate, pad, num_filter, num_group,
/// no_bias, layout, ...)`, with our optional `act_type` applied in the same pass as the bias.
#[derive(Clone, Debug)]
pub struct Convolution {
    pub spec: ConvSpec,
    pub num_filter: usize,
    pub no_bias: bool,
    pub act: Option<Act>,
}

impl Convolution {
    /// The same convolution without bias or activation (what gradients are made of).
    fn plain(&self, num_filter: usize) -> Convolution {
        Convolution {
            spec: self.spec.clone(),
            num_filter,
            no_bias: true,
            act: None,
        }
    }
    fn check(&self, i: &[Meta]) -> Result<(Geom, Vec<usize>)> {
        const OP: &str = "Convolution";
        check_inputs(OP, i, self.no_bias, ["data", "weight"])?;
        let spec = &self.spec;
        let x = &i[0].shape;
        spec.check_rank(OP, "data", x)?;
        let (n, c, _) = spec.split(x);
        check_groups(OP, spec, x, c, self.num_filter)?;
        let dims = [
            (self.num_filter, "num_filter"),
            (c / spec.num_group, "channels/num_group"),
        ];
        check_params(OP, spec, i, self.no_bias, self.num_filter, dims)?;
        let g = spec.geom(OP, x, self.num_filter)?;
        let out = spec.join(n, self.num_filter, &g.out[3 - spec.rank()..]);
        Ok((g, out))
    }
}

fn conv_attrs(spec: &ConvSpec, num_filter: usize, no_bias: bool, act: Option<Act>) -> Attrs {
    let a = spec
        .attrs()
        .with("num_filter", Attr::Int(num_filter as i64))
        .with("no_bias", Attr::Bool(no_bias));
    match act {
        Some(act) => a.with("act_type", Attr::Str(act.name().into())),
        None => a,
    }
}

impl Op for Convolution {
    fn with_activation(&self, act: Act) -> Option<Arc<dyn Op>> {
        self.act.is_none().then(|| {
            Arc::new(Convolution {
                act: Some(act),
                ..self.clone()
            }) as Arc<dyn Op>
        })
    }
    fn name(&self) -> &'static str {
        "convolution"
    }
    fn mxnet_name(&self) -> &'static str {
        "Convolution"
    }
    fn attrs(&self) -> Attrs {
        conv_attrs(&self.spec, self.num_filter, self.no_bias, self.act)
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let (_, out) = self.check(i)?;
        Ok(vec![Meta::new(out, i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let (g, shape) = self.check(&metas)?;
        let e = Epilogue {
            bias: x.get(2),
            act: self.act,
            ch: g.f,
            inner: if g.cl { 1 } else { g.pos() },
        };
        Ok(vec![run(
            "Convolution",
            Kernel::Fwd,
            &g,
            &x[0],
            &x[1],
            &e,
            &shape,
        )?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let (x, w) = (ctx.input(0), ctx.input(1));
        let dz = match self.act {
            Some(a) => act_grad(a, &g, &ctx.output(0)?)?,
            None => g,
        };
        let plain = self.plain(self.num_filter);
        let dx = match ctx.needs_grad(0) {
            true => Some(apply1(
                Arc::new(ConvData {
                    conv: plain.clone(),
                    img: x.shape().to_vec(),
                }),
                &[&dz, w],
            )?),
            false => None,
        };
        let dw = match ctx.needs_grad(1) {
            true => Some(apply1(Arc::new(ConvWeight { conv: plain }), &[x, &dz])?),
            false => None,
        };
        let mut out = vec![dx, dw];
        if !self.no_bias {
            out.push(match ctx.needs_grad(2) {
                true => Some(dz.sum_axes(&self.spec.non_channel_axes(), false)?),
                false => None,
            });
        }
        Ok(out)
    }
}

/// `_backward_Convolution_data(dy, weight)`: the gradient of a (plain) convolution of data of
/// shape `img` with respect to the data; the transposed convolution.
#[derive(Clone, Debug)]
pub struct ConvData {
    pub conv: Convolution,
    pub img: Vec<usize>,
}

impl ConvData {
    fn check(&self, i: &[Meta]) -> Result<Geom> {
        const OP: &str = "_backward_Convolution_data";
        check_inputs(OP, i, true, ["output gradient", "weight"])?;
        let spec = &self.conv.spec;
        let (n, c, _) = spec.split(&self.img);
        let g = spec.geom(OP, &self.img, self.conv.num_filter)?;
        let want = spec.join(n, g.f, &g.out[3 - spec.rank()..]);
        check_shape(
            OP,
            "output gradient",
            &i[0].shape,
            &want,
            "the output shape",
        )?;
        let ws = spec.weight_shape(g.f, c / spec.num_group);
        check_shape(OP, "weight", &i[1].shape, &ws, "the weight shape")?;
        Ok(g)
    }
}

impl Op for ConvData {
    fn name(&self) -> &'static str {
        "_backward_Convolution_data"
    }
    fn attrs(&self) -> Attrs {
        self.conv.attrs()
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        self.check(i)?;
        Ok(vec![Meta::new(self.img.clone(), i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let g = self.check(&[Meta::of(&x[0]), Meta::of(&x[1])])?;
        let op = "_backward_Convolution_data";
        let t = run(op, Kernel::Data, &g, &x[0], &x[1], &NO_EPILOGUE, &self.img)?;
        Ok(vec![t])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        // Bilinear in (dy, w): <h, conv^T(dy, w)> = <conv(h, w), dy>.
        let h = g[0].clone().expect("single output");
        let (dy, w) = (ctx.input(0), ctx.input(1));
        let ddy = match ctx.needs_grad(0) {
            true => Some(apply1(Arc::new(self.conv.clone()), &[&h, w])?),
            false => None,
        };
        let dw = match ctx.needs_grad(1) {
            true => Some(apply1(
                Arc::new(ConvWeight {
                    conv: self.conv.clone(),
                }),
                &[&h, dy],
            )?),
            false => None,
        };
        Ok(vec![ddy, dw])
    }
}

/// `_backward_Convolution_weight(data, dy)`: the gradient of a (plain) convolution with respect
/// to its weight.
#[derive(Clone, Debug)]
pub struct ConvWeight {
    pub conv: Convolution,
}

impl ConvWeight {
    fn check(&self, i: &[Meta]) -> Result<(Geom, Vec<usize>)> {
        const OP: &str = "_backward_Convolution_weight";
        check_inputs(OP, i, true, ["data", "output gradient"])?;
        let spec = &self.conv.spec;
        let x = &i[0].shape;
        spec.check_rank(OP, "data", x)?;
        let (n, c, _) = spec.split(x);
        check_groups(OP, spec, x, c, self.conv.num_filter)?;
        let g = spec.geom(OP, x, self.conv.num_filter)?;
        let want = spec.join(n, g.f, &g.out[3 - spec.rank()..]);
        check_shape(
            OP,
            "output gradient",
            &i[1].shape,
            &want,
            "the output shape",
        )?;
        Ok((g, spec.weight_shape(g.f, c / spec.num_group)))
    }
}

impl Op for ConvWeight {
    fn name(&self) -> &'static str {
        "_backward_Convolution_weight"
    }
    fn attrs(&self) -> Attrs {
        self.conv.attrs()
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let (_, ws) = self.check(i)?;
        Ok(vec![Meta::new(ws, i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let (g, ws) = self.check(&[Meta::of(&x[0]), Meta::of(&x[1])])?;
        let op = "_backward_Convolution_weight";
        let t = run(op, Kernel::Weight, &g, &x[0], &x[1], &NO_EPILOGUE, &ws)?;
        Ok(vec![t])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        // Bilinear in (x, dy): <H, dW(x, dy)> = <conv(x, H), dy>.
        let h = g[0].clone().expect("single output");
        let (x, dy) = (ctx.input(0), ctx.input(1));
        let dx = match ctx.needs_grad(0) {
            true => Some(apply1(
                Arc::new(ConvData {
                    conv: self.conv.clone(),
                    img: x.shape().to_vec(),
                }),
                &[dy, &h],
            )?),
            false => None,
        };
        let ddy = match ctx.needs_grad(1) {
            true => Some(apply1(Arc::new(self.conv.clone()), &[x, &h])?),
            false => None,
        };
        Ok(vec![dx, ddy])
    }
}

// ---------------------------------------------------------------------------------------------
// Deconvolution

/// `Deconvolution(data, weight, bias=None, kernel, stride, dilate, pad, adj, target_shape,
/// num_filter, num_group, no_bias=True, layout, ...)`: the transpose of the convolution with the
/// same kernel, stride, dilation and padding; weight (C_in, num_filter/num_group, *kernel).
#[derive(Clone, Debug)]
pub struct Deconvolution {
    pub conv: Convolution,
    pub adj: Vec<usize>,
    pub target_shape: Vec<usize>,
}

impl Deconvolution {
    /// The geometry (of the convolution it transposes), the output shape, and that convolution
    /// (padding from target_shape applied; no bias) mapping the output back to the data.
    fn check(&self, i: &[Meta]) -> Result<(Geom, Vec<usize>, Convolution)> {
        const OP: &str = "Deconvolution";
        let c = &self.conv;
        check_inputs(OP, i, c.no_bias, ["data", "weight"])?;
        let spec = &c.spec;
        let x = &i[0].shape;
        spec.check_rank(OP, "data", x)?;
        let (n, cin, sp) = spec.split(x);
        check_groups(OP, spec, x, cin, c.num_filter)?;
        let dims = [
            (cin, "channels"),
            (c.num_filter / spec.num_group, "num_filter/num_group"),
        ];
        check_params(OP, spec, i, c.no_bias, c.num_filter, dims)?;
        if let Some(a) = sp.iter().position(|&v| v == 0) {
            return Err(Error::shape(
                OP,
                format!("data of shape {} is empty along spatial axis {a}", sh(x)),
            ));
        }
        // Full size of each spatial dim before cropping the padding: (x-1)*stride + dilated k.
        let full: Vec<usize> = (0..spec.rank())
            .map(|a| (sp[a] - 1) * spec.stride[a] + spec.dilated(a))
            .collect();
        let (pad, adj) = if self.target_shape.iter().any(|&t| t != 0) {
            // As MXNet: the padding that gives target_shape, the odd remainder going to adj.
            let mut pad = Vec::new();
            let mut adj = Vec::new();
            for (a, (&f, &t)) in full.iter().zip(&self.target_shape).enumerate() {
                if t > f {
                    return Err(Error::value(
                        OP,
                        format!(
                            "target_shape {} is too big for data of shape {}: at most {f} \
                             along spatial axis {a}",
                            sh(&self.target_shape),
                            sh(x)
                        ),
                    ));
                }
                adj.push((f - t) % 2);
                pad.push((f - t).div_ceil(2));
            }
            (pad, adj)
        } else {
            (spec.pad.clone(), self.adj.clone())
        };
        for a in 0..spec.rank() {
            if adj[a] >= spec.stride[a] {
                return Err(Error::value(
                    OP,
                    format!(
                        "adj {} must be smaller than stride {} (along spatial axis {a}{})",
                        sh(&adj),
                        sh(&spec.stride),
                        if self.target_shape.is_empty() {
                            ""
                        } else {
                            ", adj implied by target_shape"
                        }
                    ),
                ));
            }
            if full[a] + adj[a] <= 2 * pad[a] {
                return Err(Error::shape(
                    OP,
                    format!(
                        "pad {} leaves no output along spatial axis {a} for data of shape {}",
                        sh(&pad),
                        sh(x)
                    ),
                ));
            }
        }
        let out: Vec<usize> = (0..spec.rank())
            .map(|a| full[a] + adj[a] - 2 * pad[a])
            .collect();
        let mut conv = c.plain(cin);
        conv.spec.pad = pad;
        let img = spec.join(n, c.num_filter, &out);
        let g = conv.spec.geom(OP, &img, cin)?;
        debug_assert_eq!(&g.out[3 - spec.rank()..], sp);
        Ok((g, img, conv))
    }
}

impl Op for Deconvolution {
    fn name(&self) -> &'static str {
        "deconvolution"
    }
    fn mxnet_name(&self) -> &'static str {
        "Deconvolution"
    }
    fn attrs(&self) -> Attrs {
        let ints = |v: &[usize]| Attr::Ints(v.iter().map(|&x| x as i64).collect());
        conv_attrs(
            &self.conv.spec,
            self.conv.num_filter,
            self.conv.no_bias,
            self.conv.act,
        )
        .with("adj", ints(&self.adj))
        .with("target_shape", ints(&self.target_shape))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let (_, out, _) = self.check(i)?;
        Ok(vec![Meta::new(out, i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let (g, shape, _) = self.check(&metas)?;
        let e = Epilogue {
            bias: x.get(2),
            act: self.conv.act,
            ch: g.c,
            inner: if g.cl { 1 } else { g.img_len() },
        };
        let t = run("Deconvolution", Kernel::Data, &g, &x[0], &x[1], &e, &shape)?;
        Ok(vec![t])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let (z, w) = (ctx.input(0), ctx.input(1));
        let metas: Vec<Meta> = ctx.inputs.iter().map(Meta::of).collect();
        let (_, _, conv) = self.check(&metas)?;
        let dz = match self.conv.act {
            Some(a) => act_grad(a, &g, &ctx.output(0)?)?,
            None => g,
        };
        // The data gradient is the convolution it transposes; the weight gradient is that
        // convolution's, with the roles of data and output gradient swapped.
        let dx = match ctx.needs_grad(0) {
            true => Some(apply1(Arc::new(conv.clone()), &[&dz, w])?),
            false => None,
        };
        let dw = match ctx.needs_grad(1) {
            true => Some(apply1(Arc::new(ConvWeight { conv }), &[&dz, z])?),
            false => None,
        };
        let mut out = vec![dx, dw];
        if !self.conv.no_bias {
            out.push(match ctx.needs_grad(2) {
                true => Some(dz.sum_axes(&self.conv.spec.non_channel_axes(), false)?),
                false => None,
            });
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Builders

/// A tuple attribute of `rank` non-negative ints (`default` each when absent or empty).
fn tuple(
    op: &str,
    a: &Attrs,
    key: &str,
    rank: usize,
    default: usize,
    min: i64,
) -> Result<Vec<usize>> {
    let v = a.ints(op, key, &[])?;
    if v.is_empty() {
        return Ok(vec![default; rank]);
    }
    if v.len() != rank {
        return Err(Error::value(
            op,
            format!("{key} {v:?} must have as many dimensions as kernel ({rank})"),
        ));
    }
    if let Some(x) = v.iter().find(|&&x| x < min) {
        return Err(Error::value(
            op,
            format!(
                "{key} must be {}, got {x} in {v:?}",
                if min > 0 { "positive" } else { "non-negative" }
            ),
        ));
    }
    Ok(v.into_iter().map(|x| x as usize).collect())
}

fn parse_conv(op: &str, a: &Attrs, no_bias_default: bool, workspace: i64) -> Result<Convolution> {
    let kernel = a
        .opt_ints(op, "kernel")?
        .ok_or_else(|| Error::value(op, "argument kernel is required"))?;
    let rank = kernel.len();
    if !(1..=3).contains(&rank) {
        return Err(Error::value(
            op,
            format!("kernel {kernel:?} must have 1, 2 or 3 dimensions"),
        ));
    }
    let kernel = tuple(op, a, "kernel", rank, 1, 1)?;
    let layout = a.opt_str("layout");
    let channels_last = match layout.as_deref() {
        None => false,
        Some(l) => {
            let (nc, last) = [("NCW", "NWC"), ("NCHW", "NHWC"), ("NCDHW", "NDHWC")][rank - 1];
            if l == nc {
                false
            } else if l == last {
                true
            } else {
                return Err(Error::value(
                    op,
                    format!(
                        "layout {l:?} does not fit a kernel of {rank} dimensions (expected \
                         {nc} or {last})"
                    ),
                ));
            }
        }
    };
    let nf = a.req_int(op, "num_filter")?;
    if nf < 1 {
        return Err(Error::value(
            op,
            format!("num_filter must be positive, got {nf}"),
        ));
    }
    let ng = a.int(op, "num_group", 1)?;
    if ng < 1 {
        return Err(Error::value(
            op,
            format!("num_group must be positive, got {ng}"),
        ));
    }
    let act = match a.opt_str("act_type") {
        None => None,
        Some(s) => {
            let act = Act::from_name(op, &s)?;
            if !act.from_output() {
                return Err(Error::value(
                    op,
                    format!(
                        "act_type {s:?} cannot be fused (its gradient needs the input): apply \
                         npx.activation to the output instead"
                    ),
                ));
            }
            Some(act)
        }
    };
    let cudnn_tune = a.opt_str("cudnn_tune");
    if let Some(t) = &cudnn_tune {
        if !["off", "limited_workspace", "fastest"].contains(&t.as_str()) {
            return Err(Error::value(
                op,
                format!("cudnn_tune must be 'off', 'limited_workspace' or 'fastest', not {t:?}"),
            ));
        }
    }
    Ok(Convolution {
        spec: ConvSpec {
            stride: tuple(op, a, "stride", rank, 1, 1)?,
            dilate: tuple(op, a, "dilate", rank, 1, 1)?,
            pad: tuple(op, a, "pad", rank, 0, 0)?,
            kernel,
            num_group: ng as usize,
            layout,
            channels_last,
            workspace: a.int(op, "workspace", workspace)?,
            cudnn_tune,
            cudnn_off: a.bool(op, "cudnn_off", false)?,
        },
        num_filter: nf as usize,
        no_bias: a.bool(op, "no_bias", no_bias_default)?,
        act,
    })
}

fn conv_builder(a: &Attrs) -> Result<Arc<dyn Op>> {
    Ok(Arc::new(parse_conv("Convolution", a, false, 1024)?))
}

fn deconv_builder(a: &Attrs) -> Result<Arc<dyn Op>> {
    const OP: &str = "Deconvolution";
    // MXNet's Deconvolution defaults to no_bias=True (Convolution to False).
    let conv = parse_conv(OP, a, true, 512)?;
    let rank = conv.spec.rank();
    let adj = tuple(OP, a, "adj", rank, 0, 0)?;
    let target_shape = match a.ints(OP, "target_shape", &[])? {
        t if t.is_empty() => Vec::new(),
        _ => tuple(OP, a, "target_shape", rank, 0, 0)?,
    };
    Ok(Arc::new(Deconvolution {
        conv,
        adj,
        target_shape,
    }))
}

pub fn register(r: &mut Registry) {
    for n in ["convolution", "Convolution", "_npx_convolution"] {
        r.insert(n, conv_builder);
    }
    for n in ["deconvolution", "Deconvolution", "_npx_deconvolution"] {
        r.insert(n, deconv_builder);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::ops::invoke;
    use std::cell::Cell;

    thread_local! {
        /// Overrides the column budget (0: the default), to exercise chunking.
        pub(crate) static BUDGET: Cell<usize> = const { Cell::new(0) };
    }

    fn vals(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    #[derive(Clone, Debug)]
    struct Case {
        n: usize,
        c: usize,
        f: usize,
        g: usize,
        sp: Vec<usize>,
        k: Vec<usize>,
        s: Vec<usize>,
        d: Vec<usize>,
        p: Vec<usize>,
    }

    #[allow(clippy::too_many_arguments)]
    fn case(
        n: usize,
        c: usize,
        f: usize,
        g: usize,
        sp: &[usize],
        k: &[usize],
        s: &[usize],
        d: &[usize],
        p: &[usize],
    ) -> Case {
        Case {
            n,
            c,
            f,
            g,
            sp: sp.to_vec(),
            k: k.to_vec(),
            s: s.to_vec(),
            d: d.to_vec(),
            p: p.to_vec(),
        }
    }

    fn cases() -> Vec<Case> {
        vec![
            case(2, 3, 4, 1, &[5, 6], &[3, 3], &[1, 1], &[1, 1], &[1, 1]),
            case(3, 4, 6, 2, &[7, 5], &[3, 2], &[2, 1], &[1, 2], &[1, 0]),
            case(2, 4, 4, 4, &[6, 6], &[3, 3], &[2, 2], &[1, 1], &[1, 1]),
            case(2, 5, 3, 1, &[4, 3], &[1, 1], &[1, 1], &[1, 1], &[0, 0]),
            case(2, 4, 6, 2, &[3, 4], &[1, 1], &[1, 1], &[1, 1], &[0, 0]),
            case(2, 2, 3, 1, &[8, 8], &[3, 3], &[3, 3], &[2, 2], &[2, 2]),
            case(2, 3, 2, 1, &[9], &[4], &[2], &[2], &[2]),
            case(
                1,
                2,
                4,
                2,
                &[4, 5, 3],
                &[2, 3, 2],
                &[1, 2, 1],
                &[1, 1, 2],
                &[1, 0, 1],
            ),
            case(3, 2, 2, 1, &[5, 5], &[2, 2], &[1, 1], &[1, 1], &[0, 0]),
        ]
    }

    /// Direct convolution, NC*, float64.
    fn naive(cs: &Case, x: &[f64], w: &[f64]) -> (Vec<f64>, Vec<usize>) {
        let r = cs.k.len();
        let (img, k, s, d, p) = (
            pad3(&cs.sp, 1),
            pad3(&cs.k, 1),
            pad3(&cs.s, 1),
            pad3(&cs.d, 1),
            pad3(&cs.p, 0),
        );
        let out: Vec<usize> = (0..3)
            .map(|a| (img[a] + 2 * p[a] - (d[a] * (k[a] - 1) + 1)) / s[a] + 1)
            .collect();
        let (cg, fg) = (cs.c / cs.g, cs.f / cs.g);
        let mut y = Vec::new();
        for b in 0..cs.n {
            for fo in 0..cs.f {
                let gi = fo / fg;
                for oz in 0..out[0] {
                    for oy in 0..out[1] {
                        for ox in 0..out[2] {
                            let mut acc = 0.0;
                            for ci in 0..cg {
                                for kz in 0..k[0] {
                                    for ky in 0..k[1] {
                                        for kx in 0..k[2] {
                                            let at = |o: usize, q: usize, a: usize| {
                                                (o * s[a] + q * d[a]) as isize - p[a] as isize
                                            };
                                            let (iz, iy, ix) =
                                                (at(oz, kz, 0), at(oy, ky, 1), at(ox, kx, 2));
                                            let inside = |i: isize, a: usize| {
                                                i >= 0 && (i as usize) < img[a]
                                            };
                                            if !(inside(iz, 0) && inside(iy, 1) && inside(ix, 2)) {
                                                continue;
                                            }
                                            let (iz, iy, ix) =
                                                (iz as usize, iy as usize, ix as usize);
                                            let xi = (((b * cs.c + gi * cg + ci) * img[0] + iz)
                                                * img[1]
                                                + iy)
                                                * img[2]
                                                + ix;
                                            let wi = (((fo * cg + ci) * k[0] + kz) * k[1] + ky)
                                                * k[2]
                                                + kx;
                                            acc += x[xi] * w[wi];
                                        }
                                    }
                                }
                            }
                            y.push(acc);
                        }
                    }
                }
            }
        }
        let mut shape = vec![cs.n, cs.f];
        shape.extend_from_slice(&out[3 - r..]);
        (y, shape)
    }

    /// (n, c, q) -> (n, q, c)
    fn to_last(v: &[f64], n: usize, c: usize, q: usize) -> Vec<f64> {
        let mut o = vec![0.0; v.len()];
        for b in 0..n {
            for ch in 0..c {
                for i in 0..q {
                    o[(b * q + i) * c + ch] = v[(b * c + ch) * q + i];
                }
            }
        }
        o
    }

    /// (n, q, c) shape from (n, c, spatial)
    fn last_shape(s: &[usize]) -> Vec<usize> {
        let mut v = vec![s[0]];
        v.extend_from_slice(&s[2..]);
        v.push(s[1]);
        v
    }

    fn ints(v: &[usize]) -> Attr {
        Attr::Ints(v.iter().map(|&x| x as i64).collect())
    }

    fn attrs(cs: &Case, cl: bool, nf: usize) -> Attrs {
        let a = Attrs::new()
            .with("kernel", ints(&cs.k))
            .with("stride", ints(&cs.s))
            .with("dilate", ints(&cs.d))
            .with("pad", ints(&cs.p))
            .with("num_filter", Attr::Int(nf as i64))
            .with("num_group", Attr::Int(cs.g as i64))
            .with("no_bias", Attr::Bool(true));
        if cl {
            a.with(
                "layout",
                Attr::Str(["NWC", "NHWC", "NDHWC"][cs.k.len() - 1].into()),
            )
        } else {
            a
        }
    }

    fn dot(a: &Tensor, b: &Tensor) -> f64 {
        let (a, b) = (a.to_f64_vec().unwrap(), b.to_f64_vec().unwrap());
        assert_eq!(a.len(), b.len());
        a.iter().zip(&b).map(|(x, y)| x * y).sum()
    }

    fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "at {i}: {x} vs {y}");
        }
    }

    /// Data, weight and the NC* reference output for a case, in NC* or channel-last layout.
    fn setup(cs: &Case, cl: bool) -> (Tensor, Tensor, Vec<f64>, Vec<usize>) {
        let r = cs.k.len();
        let q: usize = cs.sp.iter().product();
        let kk: usize = cs.k.iter().product();
        let x = vals(cs.n * cs.c * q, 1);
        let w = vals(cs.f * (cs.c / cs.g) * kk, 2);
        let (y, ys) = naive(cs, &x, &w);
        let mut xs = vec![cs.n, cs.c];
        xs.extend_from_slice(&cs.sp);
        let mut ws = vec![cs.f, cs.c / cs.g];
        ws.extend_from_slice(&cs.k);
        if !cl {
            return (
                Tensor::from_vec(x, &xs).unwrap(),
                Tensor::from_vec(w, &ws).unwrap(),
                y,
                ys,
            );
        }
        let oq: usize = ys[2..].iter().product();
        let (x, w, y) = (
            to_last(&x, cs.n, cs.c, q),
            to_last(&w, cs.f, cs.c / cs.g, kk),
            to_last(&y, cs.n, cs.f, oq),
        );
        assert_eq!(ys.len(), r + 2);
        (
            Tensor::from_vec(x, &last_shape(&xs)).unwrap(),
            Tensor::from_vec(w, &last_shape(&ws)).unwrap(),
            y,
            last_shape(&ys),
        )
    }

    #[test]
    fn forward_matches_direct_convolution() {
        for cs in cases() {
            for cl in [false, true] {
                let (x, w, y, ys) = setup(&cs, cl);
                let a = attrs(&cs, cl, cs.f);
                for budget in [0, 1] {
                    BUDGET.with(|b| b.set(budget));
                    let out = invoke("convolution", &[&x, &w], &a).unwrap().remove(0);
                    assert_eq!(out.shape().as_slice(), &ys[..], "{cs:?} cl={cl}");
                    close(&out.to_f64_vec().unwrap(), &y, 1e-12);
                }
                BUDGET.with(|b| b.set(0));
                // bias and a fused relu, in float32
                let bias = Tensor::from_vec(vals(cs.f, 3), &[cs.f]).unwrap();
                let a = a
                    .with("no_bias", Attr::Bool(false))
                    .with("act_type", Attr::Str("relu".into()));
                let f32s = |t: &Tensor| t.cast_to(DType::F32).unwrap();
                let out = invoke("Convolution", &[&f32s(&x), &f32s(&w), &f32s(&bias)], &a)
                    .unwrap()
                    .remove(0);
                assert_eq!(out.dtype(), DType::F32);
                let bv = bias.to_f64_vec().unwrap();
                let ch = |i: usize| {
                    if cl {
                        i % cs.f
                    } else {
                        (i / ys[2..].iter().product::<usize>()) % cs.f
                    }
                };
                let want: Vec<f64> = y
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v + bv[ch(i)]).max(0.0))
                    .collect();
                close(&out.to_f64_vec().unwrap(), &want, 1e-5);
            }
        }
    }

    /// The direct float32 kernels (forward and data) agree with im2col + GEMM, over shapes that
    /// hit both tile widths and every tile height, partial tiles in both directions, groups,
    /// dilation, 3-D, stride on the outer axes, and one item (rows split over threads) or
    /// several.
    #[test]
    fn direct_kernels_match_gemm() {
        if !crate::backend::cpu::avx2::available() {
            return;
        }
        let grid = [
            case(3, 5, 7, 1, &[9, 21], &[3, 3], &[1, 1], &[1, 1], &[1, 1]),
            case(1, 8, 13, 1, &[6, 40], &[3, 5], &[2, 1], &[1, 2], &[0, 3]),
            case(2, 6, 26, 2, &[7, 8], &[2, 3], &[1, 1], &[2, 1], &[1, 1]),
            case(2, 3, 4, 1, &[17], &[4], &[1], &[3], &[2]),
            case(
                1,
                4,
                6,
                2,
                &[3, 4, 18],
                &[2, 2, 3],
                &[1, 2, 1],
                &[1, 1, 1],
                &[1, 0, 1],
            ),
            case(4, 1, 20, 1, &[28, 28], &[5, 5], &[1, 1], &[1, 1], &[0, 0]),
        ];
        // Every tile height: (filters, row width) that pick 12 (2 zmm), 20, 24, 16 (1 zmm),
        // 12, 10 (1 ymm) rows.
        let heights = [(24, 20), (40, 12), (24, 14), (16, 10), (12, 6), (10, 6)]
            .map(|(f, w)| case(2, 3, f, 1, &[4, w], &[3, 3], &[1, 1], &[1, 1], &[1, 1]));
        let f32v = |n: usize, seed: u64| -> Vec<f32> {
            vals(n, seed).into_iter().map(|v| v as f32).collect()
        };
        for cs in grid.into_iter().chain(heights) {
            let conv = parse_conv("Convolution", &attrs(&cs, false, cs.f), true, 0).unwrap();
            let mut xs = vec![cs.n, cs.c];
            xs.extend_from_slice(&cs.sp);
            let g = conv.spec.geom("Convolution", &xs, cs.f).unwrap();
            let x = f32v(cs.n * g.x_len(), 1);
            let w = f32v(cs.f * g.ck(), 2);
            let dy = f32v(cs.n * g.y_len(), 3);
            for (k, a, out) in [
                (Kernel::Fwd, &x, cs.n * g.y_len()),
                (Kernel::Data, &dy, cs.n * g.x_len()),
            ] {
                let strided = cs.s.iter().any(|&s| s > 1);
                if matches!(k, Kernel::Data) && strided {
                    assert!(direct(k, &g).is_none(), "{cs:?}");
                    continue;
                }
                assert!(direct(k, &g).is_some(), "{cs:?}");
                let (mut got, mut want) = (vec![0f32; out], vec![0f32; out]);
                <f32 as ConvElem>::conv(k, &g, a, &w, &mut got).unwrap();
                gemm_kernel(k, &g, a, &w, &mut want).unwrap();
                let (got, want): (Vec<f64>, Vec<f64>) = (
                    got.iter().map(|&v| v as f64).collect(),
                    want.iter().map(|&v| v as f64).collect(),
                );
                close(&got, &want, 1e-5);
            }
        }
    }

    /// One-item direct convolutions from several threads at once, each run as a graph runs its
    /// ops (`on_pool`: on a pool thread, rows split over the pool): a pool thread waiting for
    /// one item's rows may take another thread's whole convolution meanwhile, which needs a
    /// padded buffer of its own and must leave the waiting job owning the pool.
    #[test]
    fn direct_convolutions_from_several_threads_at_once() {
        if !crate::backend::cpu::avx2::available() {
            return;
        }
        let cs = case(1, 8, 16, 1, &[12, 40], &[3, 3], &[1, 1], &[1, 1], &[1, 1]);
        let conv = parse_conv("Convolution", &attrs(&cs, false, cs.f), true, 0).unwrap();
        let g = conv
            .spec
            .geom("Convolution", &[1, 8, 12, 40], cs.f)
            .unwrap();
        let f32v = |n: usize, seed: u64| -> Vec<f32> {
            vals(n, seed).into_iter().map(|v| v as f32).collect()
        };
        let (x, w) = (f32v(g.x_len(), 1), f32v(cs.f * g.ck(), 2));
        assert!(direct(Kernel::Fwd, &g).is_some());
        let mut want = vec![0f32; g.y_len()];
        gemm_kernel(Kernel::Fwd, &g, &x, &w, &mut want).unwrap();
        let want: Vec<f64> = want.iter().map(|&v| v as f64).collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..300 {
                        // As a graph runs it: on a pool thread that splits its kernels.
                        let got = crate::backend::cpu::on_pool(|| {
                            let mut got = vec![0f32; g.y_len()];
                            <f32 as ConvElem>::conv(Kernel::Fwd, &g, &x, &w, &mut got).unwrap();
                            // Still splitting across the pool after another thread's job ran
                            // here meanwhile.
                            let cpu = crate::backend::cpu::kernel_threads();
                            assert_eq!(cpu, crate::backend::cpu::num_threads());
                            got
                        });
                        let got: Vec<f64> = got.iter().map(|&v| v as f64).collect();
                        close(&got, &want, 1e-5);
                    }
                });
            }
        });
    }

    #[test]
    fn gradient_kernels_are_adjoints() {
        for cs in cases() {
            for cl in [false, true] {
                let (x, w, _, ys) = setup(&cs, cl);
                let conv = parse_conv("Convolution", &attrs(&cs, cl, cs.f), true, 0).unwrap();
                let y = apply1(Arc::new(conv.clone()), &[&x, &w]).unwrap();
                let r = Tensor::from_vec(vals(numel(&ys), 4), &ys).unwrap();
                let dx = apply1(
                    Arc::new(ConvData {
                        conv: conv.clone(),
                        img: x.shape().to_vec(),
                    }),
                    &[&r, &w],
                )
                .unwrap();
                let yr = dot(&y, &r);
                assert!((yr - dot(&x, &dx)).abs() < 1e-10, "{cs:?} cl={cl}");
                // in parallel, one item at a time, the whole batch in one piece
                for budget in [0, 1, 1 << 30] {
                    BUDGET.with(|b| b.set(budget));
                    let dw = apply1(Arc::new(ConvWeight { conv: conv.clone() }), &[&x, &r]);
                    BUDGET.with(|b| b.set(0));
                    let e = (yr - dot(&w, &dw.unwrap())).abs();
                    assert!(e < 1e-10, "{cs:?} cl={cl} budget={budget}");
                }
                // Deconvolution (num_filter = the data's channels) is the same transpose.
                let adj: Vec<usize> = (0..cs.k.len())
                    .map(|a| (cs.sp[a] + 2 * cs.p[a] - (cs.d[a] * (cs.k[a] - 1) + 1)) % cs.s[a])
                    .collect();
                let da = attrs(&cs, cl, cs.c).with("adj", ints(&adj));
                let z = invoke("deconvolution", &[&r, &w], &da).unwrap().remove(0);
                assert_eq!(z.shape(), x.shape());
                assert!((yr - dot(&x, &z)).abs() < 1e-10, "{cs:?} cl={cl}");
                close(&z.to_f64_vec().unwrap(), &dx.to_f64_vec().unwrap(), 1e-12);
                // target_shape gives the data's spatial shape back
                let ta = attrs(&cs, cl, cs.c).with("target_shape", ints(&cs.sp));
                match invoke("Deconvolution", &[&r, &w], &ta) {
                    Ok(t) => assert_eq!(t[0].shape(), x.shape()),
                    // stride 1 with an odd remainder implies adj=1, which MXNet refuses too
                    Err(e) => assert!(e.to_string().contains("adj"), "{e}"),
                }
            }
        }
    }

    #[test]
    fn deconvolution_bias_and_shapes() {
        // (1, 2, 3, 3) -> stride 2, pad 1, adj 1, kernel 3: out = (3-1)*2 - 2 + 3 + 1 = 6
        let z = Tensor::from_vec(vals(18, 5), &[1, 2, 3, 3]).unwrap();
        let w = Tensor::from_vec(vals(2 * 4 * 9, 6), &[2, 4, 3, 3]).unwrap();
        let b = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[4]).unwrap();
        let a = Attrs::new()
            .with("kernel", Attr::Str("(3, 3)".into()))
            .with("stride", Attr::Str("(2, 2)".into()))
            .with("pad", Attr::Str("(1, 1)".into()))
            .with("adj", Attr::Str("(1, 1)".into()))
            .with("num_filter", Attr::Str("4".into()));
        let plain = invoke("Deconvolution", &[&z, &w], &a).unwrap().remove(0);
        assert_eq!(plain.shape().as_slice(), &[1, 4, 6, 6]);
        let ab = a.clone().with("no_bias", Attr::Str("False".into()));
        let y = invoke("Deconvolution", &[&z, &w, &b], &ab)
            .unwrap()
            .remove(0);
        let (pv, yv) = (plain.to_f64_vec().unwrap(), y.to_f64_vec().unwrap());
        for i in 0..yv.len() {
            assert!((yv[i] - pv[i] - (i / 36 + 1) as f64).abs() < 1e-12);
        }
        // target_shape (6, 5): pad and adj follow from it
        let t = a.with("target_shape", Attr::Str("(6, 5)".into()));
        let y = invoke("Deconvolution", &[&z, &w], &t).unwrap().remove(0);
        assert_eq!(y.shape().as_slice(), &[1, 4, 6, 5]);
        let big = t.with("target_shape", Attr::Str("(9, 9)".into()));
        let e = invoke("Deconvolution", &[&z, &w], &big).unwrap_err();
        assert!(e.to_string().contains("too big"), "{e}");
    }

    #[test]
    fn attrs_round_trip_through_mxnet_strings() {
        let cs = case(1, 4, 6, 2, &[5, 5], &[3, 3], &[2, 1], &[1, 2], &[1, 0]);
        let conv = attrs(&cs, true, 6)
            .with("act_type", Attr::Str("relu".into()))
            .with("cudnn_tune", Attr::Str("fastest".into()));
        let deconv = attrs(&cs, false, 6)
            .with("adj", ints(&[1, 0]))
            .with("target_shape", ints(&[10, 9]));
        for (name, a) in [("Convolution", conv), ("Deconvolution", deconv)] {
            let op = crate::ops::build(name, &a).unwrap();
            assert_eq!(op.mxnet_name(), name);
            let back = crate::ops::build(name, &op.attrs().stringified()).unwrap();
            assert_eq!(back.attrs(), op.attrs(), "{name}");
        }
    }

    #[test]
    fn half_precision_and_errors() {
        let cs = case(2, 4, 4, 2, &[5, 5], &[3, 3], &[1, 1], &[1, 1], &[1, 1]);
        let (x, w, y, _) = setup(&cs, false);
        let a = attrs(&cs, false, 4);
        let h = |t: &Tensor| t.cast_to(DType::F16).unwrap();
        let out = invoke("convolution", &[&h(&x), &h(&w)], &a)
            .unwrap()
            .remove(0);
        assert_eq!(out.dtype(), DType::F16);
        close(&out.to_f64_vec().unwrap(), &y, 2e-2);
        let err =
            |name: &str, ins: &[&Tensor], a: &Attrs| invoke(name, ins, a).unwrap_err().to_string();
        let e = err("convolution", &[&x], &a);
        assert!(e.contains("expected 2 inputs"), "{e}");
        let x3 = x.reshape(&[2, 4, 25]).unwrap();
        let e = err("convolution", &[&x3, &w], &a);
        assert!(e.contains("must have 4 dimensions"), "{e}");
        let e = err(
            "convolution",
            &[&x, &w],
            &a.clone().with("num_group", Attr::Int(3)),
        );
        assert!(e.contains("num_group=3 does not divide"), "{e}");
        let e = err(
            "convolution",
            &[&x, &w],
            &a.clone().with("num_filter", Attr::Int(5)),
        );
        assert!(e.contains("num_filter=5 is not divisible"), "{e}");
        let w2 = Tensor::from_vec(vals(4 * 4 * 9, 1), &[4, 4, 3, 3]).unwrap();
        let e = err("convolution", &[&x, &w2], &a);
        assert!(
            e.contains("expected (num_filter, channels/num_group, *kernel)"),
            "{e}"
        );
        assert!(e.contains("(4, 2, 3, 3)"), "{e}");
        let e = err(
            "convolution",
            &[&x, &w],
            &a.clone().with("dilate", ints(&[4, 4])),
        );
        assert!(e.contains("spans 9"), "{e}");
        let xi = x.cast_to(DType::I32).unwrap();
        let e = err("convolution", &[&xi, &w], &a);
        assert!(e.contains("float"), "{e}");
        let e = err("convolution", &[&x, &h(&w)], &a);
        assert!(e.contains("weight is float16"), "{e}");
        let e = err(
            "convolution",
            &[&x, &w],
            &a.clone().with("stride", ints(&[0, 1])),
        );
        assert!(e.contains("stride must be positive"), "{e}");
        let e = err(
            "convolution",
            &[&x, &w],
            &a.clone().with("layout", Attr::Str("NCW".into())),
        );
        assert!(e.contains("layout"), "{e}");
    }
}
