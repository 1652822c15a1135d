//! `Pooling` (MXNet's operator: max, avg, sum and lp pooling over 1-3 spatial dimensions, in the
//! channel-first NCW/NCHW/NCDHW or the channel-last NWC/NHWC/NDHWC layout, each computed natively)
//! and its gradient `_backward_Pooling`.
//!
//! Windows follow MXNet (`src/operator/nn/pooling.cc`, `pool.h`): output `o` of a spatial dimension
//! starts at `o * stride - pad`; `valid` gives `floor((x + 2p - k) / s) + 1` outputs, `full`
//! `ceil((x + 2p - k) / s) + 1` (the last window is not pulled back inside the input), `same`
//! (1-D only, no pad) `ceil(x / s)`. Max, sum and lp pooling see only the in-bounds elements of a
//! window; avg divides by the window clipped to the padded input (`count_include_pad=True`) or
//! by its in-bounds elements (`False`; NaN for a window wholly in the padding, as MXNet).
//!
//! Work is split over planes (N*C of them) for channel-first data and over images for
//! channel-last data, whose inner loops run along the contiguous channels. Max pooling's gradient
//! goes to one position per window: the first maximum in scan order (NaN counts as the maximum,
//! as in the forward pass).
use super::layers::{sh, with_slice};
use super::{apply1, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::backend::cpu::{self, avx2, num::Real};
use crate::storage::CpuElement;
use crate::{DType, Error, Result, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

const OP: &str = "Pooling";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolType {
    Max,
    Avg,
    Sum,
    Lp,
}

impl PoolType {
    pub fn name(self) -> &'static str {
        match self {
            PoolType::Max => "max",
            PoolType::Avg => "avg",
            PoolType::Sum => "sum",
            PoolType::Lp => "lp",
        }
    }
    fn parse(s: &str) -> Result<PoolType> {
        Ok(match s {
            "max" => PoolType::Max,
            "avg" => PoolType::Avg,
            "sum" => PoolType::Sum,
            "lp" => PoolType::Lp,
            _ => {
                return Err(Error::value(
                    OP,
                    format!("pool_type must be 'max', 'avg', 'sum' or 'lp', not {s:?}"),
                ))
            }
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convention {
    Valid,
    Full,
    Same,
}

impl Convention {
    pub fn name(self) -> &'static str {
        match self {
            Convention::Valid => "valid",
            Convention::Full => "full",
            Convention::Same => "same",
        }
    }
}

/// `Pooling(data, kernel, pool_type='max', global_pool=False, pooling_convention='valid',
/// stride=(1,..), pad=(0,..), p_value=2, count_include_pad=True, layout=None, cudnn_off=False)`.
#[derive(Clone, Debug)]
pub struct Pooling {
    pub kernel: Vec<usize>,
    pub pool_type: PoolType,
    pub global_pool: bool,
    pub convention: Convention,
    /// Empty: ones.
    pub stride: Vec<usize>,
    /// Empty: zeros.
    pub pad: Vec<usize>,
    pub p_value: u32,
    pub count_include_pad: bool,
    pub layout: Option<String>,
    pub cudnn_off: bool,
}

const LAYOUTS_CF: [&str; 3] = ["NCW", "NCHW", "NCDHW"];
const LAYOUTS_CL: [&str; 3] = ["NWC", "NHWC", "NDHWC"];

/// One window along one spatial dimension: the in-bounds range `lo..hi` and the length of the
/// window clipped to the padded input (avg pooling's divisor with `count_include_pad`).
#[derive(Clone, Copy, Debug)]
struct Win {
    lo: usize,
    hi: usize,
    padded: usize,
}

/// The pooling problem with the spatial dimensions padded to three (leading size-1 dimensions).
/// A unit is one plane (channel-first: `cu` = 1) or one image (channel-last: `cu` = C).
#[derive(Clone, Debug)]
struct Geo {
    units: usize,
    cu: usize,
    x: [usize; 3],
    o: [usize; 3],
    k: [usize; 3],
    s: [usize; 3],
    p: [usize; 3],
    out_shape: Vec<usize>,
}

impl Geo {
    fn in_unit(&self) -> usize {
        self.x.iter().product::<usize>() * self.cu
    }
    fn out_unit(&self) -> usize {
        self.o.iter().product::<usize>() * self.cu
    }
    fn wins(&self) -> [Vec<Win>; 3] {
        let dim = |d: usize| -> Vec<Win> {
            let (x, k, s, p) = (
                self.x[d] as isize,
                self.k[d] as isize,
                self.s[d] as isize,
                self.p[d] as isize,
            );
            (0..self.o[d] as isize)
                .map(|o| {
                    let start = o * s - p;
                    let end = start + k;
                    let hi = end.min(x).max(0) as usize;
                    let lo = (start.max(0) as usize).min(hi);
                    let padded = (end.min(x + p) - start).max(0) as usize;
                    Win { lo, hi, padded }
                })
                .collect()
        };
        [dim(0), dim(1), dim(2)]
    }
    /// Multiply-adds of the whole pass, to decide on threads.
    fn work(&self) -> usize {
        (self.units * self.out_unit()).saturating_mul(self.k.iter().product::<usize>())
            + self.units * self.in_unit()
    }
    /// 2x2 windows with stride 2, no padding, all inside the input, channel-first: LeNet's pool.
    fn is_2x2(&self) -> bool {
        self.cu == 1
            && self.x[0] == 1
            && self.k == [1, 2, 2]
            && self.s == [1, 2, 2]
            && self.p == [0, 0, 0]
            && 2 * self.o[1] <= self.x[1]
            && 2 * self.o[2] <= self.x[2]
    }
}

/// Element types max pooling takes, with the identity of `max`.
pub trait PoolElem: CpuElement {
    fn lowest() -> Self;
    /// One row of `max22_bwd`'s windows (`[x0, x1, m, g]`: the two input rows, the maxima and
    /// their gradients; `[d0, d1]`: the two gradient rows) by a SIMD kernel where the type and
    /// the CPU have one; false (nothing written) elsewhere.
    fn max22_bwd_row(_src: [&[Self]; 4], _dst: [&mut [Self]; 2]) -> bool {
        false
    }
}
macro_rules! pool_elem {
    ($($t:ty => $v:expr),*) => {$(
        impl PoolElem for $t {
            #[inline]
            fn lowest() -> Self {
                $v
            }
        }
    )*};
}
pool_elem!(f64 => f64::NEG_INFINITY, i8 => i8::MIN, u8 => 0, i32 => i32::MIN, i64 => i64::MIN);

impl PoolElem for f32 {
    #[inline]
    fn lowest() -> Self {
        f32::NEG_INFINITY
    }
    fn max22_bwd_row(src: [&[f32]; 4], dst: [&mut [f32]; 2]) -> bool {
        avx2::max22_bwd_row(src, dst)
    }
}

/// Whether `v` replaces the running maximum `best`: larger, or the first NaN (NaN propagates).
#[inline(always)]
#[allow(clippy::eq_op)]
fn better<T: PartialOrd>(v: T, best: T) -> bool {
    v > best || (v != v && best == best)
}

/// Runs `f(unit, out_chunk)` over the `per`-sized chunks of `out`, on threads when it pays.
fn for_units<T: Send>(out: &mut [T], per: usize, work: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    if per == 0 || out.is_empty() {
        return;
    }
    if cpu::parallel(work) && out.len() > per {
        out.par_chunks_mut(per)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    } else {
        out.chunks_mut(per).enumerate().for_each(|(i, c)| f(i, c));
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels, per unit (plane or image). `x` is the unit's input, `y` its output.

fn max22<T: PoolElem>(x: &[T], y: &mut [T], g: &Geo) {
    let (w, wo) = (g.x[2], g.o[2]);
    for (oh, yr) in y.chunks_exact_mut(wo).enumerate() {
        let r0 = &x[2 * oh * w..2 * oh * w + w];
        let r1 = &x[(2 * oh + 1) * w..(2 * oh + 2) * w];
        for ((o, a), b) in yr
            .iter_mut()
            .zip(r0.chunks_exact(2))
            .zip(r1.chunks_exact(2))
        {
            let mut m = a[0];
            for v in [a[1], b[0], b[1]] {
                if better(v, m) {
                    m = v;
                }
            }
            *o = m;
        }
    }
}

/// The 2x2 stride-2 backward: each window's gradient goes to the first position equal to its
/// maximum `y` (the first NaN when it is NaN), as `better` chose it; branch-free, every covered
/// position written.
fn max22_bwd<T: PoolElem + Real>(x: &[T], y: &[T], gy: &[T], gx: &mut [T], g: &Geo) {
    let (w, wo, z) = (g.x[2], g.o[2], T::zero());
    let rows = gy.chunks_exact(wo).zip(y.chunks_exact(wo));
    for ((gr, yr), (xr, gxr)) in rows.zip(x.chunks_exact(2 * w).zip(gx.chunks_exact_mut(2 * w))) {
        let (x0, x1) = xr.split_at(w);
        let (d0, d1) = gxr.split_at_mut(w);
        if T::max22_bwd_row([x0, x1, yr, gr], [d0, d1]) {
            continue;
        }
        let wins = x0.chunks_exact(2).zip(x1.chunks_exact(2));
        let outs = d0.chunks_exact_mut(2).zip(d1.chunks_exact_mut(2));
        for (((a, b), (da, db)), (&m, &gv)) in wins.zip(outs).zip(yr.iter().zip(gr)) {
            // A NaN in the window makes `m` NaN, so a NaN `v` is a hit only then. Bitwise
            // `&`/`|` keep the loop free of branches.
            #[allow(clippy::eq_op)]
            let hit = |v: T| (v == m) | (v != v);
            let h0 = hit(a[0]);
            let h1 = !h0 & hit(a[1]);
            let h2 = !(h0 | h1) & hit(b[0]);
            let h3 = !(h0 | h1 | h2);
            da[0] = if h0 { gv } else { z };
            da[1] = if h1 { gv } else { z };
            db[0] = if h2 { gv } else { z };
            db[1] = if h3 { gv } else { z };
        }
    }
}

fn max_unit<T: PoolElem>(x: &[T], y: &mut [T], g: &Geo, wins: &[Vec<Win>; 3]) {
    let (xh, xw, c) = (g.x[1], g.x[2], g.cu);
    let mut oi = 0;
    for wd in &wins[0] {
        for wh in &wins[1] {
            for ww in &wins[2] {
                if c == 1 {
                    let mut m = T::lowest();
                    for d in wd.lo..wd.hi {
                        for h in wh.lo..wh.hi {
                            let base = (d * xh + h) * xw;
                            for &v in &x[base + ww.lo..base + ww.hi] {
                                if better(v, m) {
                                    m = v;
                                }
                            }
                        }
                    }
                    y[oi] = m;
                } else {
                    let ys = &mut y[oi * c..(oi + 1) * c];
                    ys.fill(T::lowest());
                    for d in wd.lo..wd.hi {
                        for h in wh.lo..wh.hi {
                            for w in ww.lo..ww.hi {
                                let pos = ((d * xh + h) * xw + w) * c;
                                for (o, &v) in ys.iter_mut().zip(&x[pos..pos + c]) {
                                    if better(v, *o) {
                                        *o = v;
                                    }
                                }
                            }
                        }
                    }
                }
                oi += 1;
            }
        }
    }
}

/// Calls `f(output index, input index of its window's first maximum)` for each output of the
/// unit whose window holds an element.
fn each_argmax<T: PoolElem>(
    x: &[T],
    g: &Geo,
    wins: &[Vec<Win>; 3],
    mut f: impl FnMut(usize, usize),
) {
    let (xh, xw, c) = (g.x[1], g.x[2], g.cu);
    let mut best = vec![T::lowest(); c];
    let mut idx = vec![usize::MAX; c];
    let mut oi = 0;
    for wd in &wins[0] {
        for wh in &wins[1] {
            for ww in &wins[2] {
                idx.fill(usize::MAX);
                for d in wd.lo..wd.hi {
                    for h in wh.lo..wh.hi {
                        for w in ww.lo..ww.hi {
                            let pos = ((d * xh + h) * xw + w) * c;
                            for ch in 0..c {
                                let v = x[pos + ch];
                                if idx[ch] == usize::MAX || better(v, best[ch]) {
                                    best[ch] = v;
                                    idx[ch] = pos + ch;
                                }
                            }
                        }
                    }
                }
                for (ch, &i) in idx.iter().enumerate() {
                    if i != usize::MAX {
                        f(oi * c + ch, i);
                    }
                }
                oi += 1;
            }
        }
    }
}

/// Avg pooling's divisor for a window (1 for a window wholly beyond the padded input, whose
/// sum is 0; 0, giving NaN, for one without in-bounds elements when padding is excluded).
#[inline]
fn divisor(include_pad: bool, wd: &Win, wh: &Win, ww: &Win) -> usize {
    if include_pad {
        (wd.padded * wh.padded * ww.padded).max(1)
    } else {
        (wd.hi - wd.lo) * (wh.hi - wh.lo) * (ww.hi - ww.lo)
    }
}

/// Sum-like pooling of one unit: `fin(sum of pw(v), divisor)`.
#[allow(clippy::too_many_arguments)]
fn sum_unit<T: Real>(
    x: &[T],
    y: &mut [T],
    g: &Geo,
    wins: &[Vec<Win>; 3],
    include_pad: bool,
    pw: impl Fn(T) -> T,
    fin: impl Fn(T, T) -> T,
) {
    let (xh, xw, c) = (g.x[1], g.x[2], g.cu);
    let mut oi = 0;
    for wd in &wins[0] {
        for wh in &wins[1] {
            for ww in &wins[2] {
                let div = T::from_f(divisor(include_pad, wd, wh, ww) as f64);
                if c == 1 {
                    let mut acc = T::zero();
                    for d in wd.lo..wd.hi {
                        for h in wh.lo..wh.hi {
                            let base = (d * xh + h) * xw;
                            for &v in &x[base + ww.lo..base + ww.hi] {
                                acc = acc + pw(v);
                            }
                        }
                    }
                    y[oi] = fin(acc, div);
                } else {
                    let ys = &mut y[oi * c..(oi + 1) * c];
                    ys.fill(T::zero());
                    for d in wd.lo..wd.hi {
                        for h in wh.lo..wh.hi {
                            for w in ww.lo..ww.hi {
                                let pos = ((d * xh + h) * xw + w) * c;
                                for (o, &v) in ys.iter_mut().zip(&x[pos..pos + c]) {
                                    *o = *o + pw(v);
                                }
                            }
                        }
                    }
                    ys.iter_mut().for_each(|o| *o = fin(*o, div));
                }
                oi += 1;
            }
        }
    }
}

/// Gradient of sum-like pooling for one unit: `gx[i] += gy[o] * fac(x[i], y[o]) / div`.
#[allow(clippy::too_many_arguments)]
fn spread_unit<T: Real>(
    x: &[T],
    y: &[T],
    gy: &[T],
    gx: &mut [T],
    g: &Geo,
    wins: &[Vec<Win>; 3],
    avg: Option<bool>,
    fac: impl Fn(T, T) -> T,
) {
    let (xh, xw, c) = (g.x[1], g.x[2], g.cu);
    let mut oi = 0;
    for wd in &wins[0] {
        for wh in &wins[1] {
            for ww in &wins[2] {
                let scale = match avg {
                    Some(include) => T::one() / T::from_f(divisor(include, wd, wh, ww) as f64),
                    None => T::one(),
                };
                for d in wd.lo..wd.hi {
                    for h in wh.lo..wh.hi {
                        for w in ww.lo..ww.hi {
                            let pos = ((d * xh + h) * xw + w) * c;
                            for ch in 0..c {
                                let o = oi * c + ch;
                                let i = pos + ch;
                                gx[i] = gx[i] + gy[o] * scale * fac(x[i], y[o]);
                            }
                        }
                    }
                }
                oi += 1;
            }
        }
    }
}

fn max_fwd<T: PoolElem>(x: &[T], g: &Geo) -> Vec<T> {
    let (iu, ou) = (g.in_unit(), g.out_unit());
    let mut y = vec![T::lowest(); g.units * ou];
    let wins = g.wins();
    let fast = g.is_2x2();
    for_units(&mut y, ou, g.work(), |i, yu| {
        let xu = &x[i * iu..(i + 1) * iu];
        if fast {
            max22(xu, yu, g)
        } else {
            max_unit(xu, yu, g, &wins)
        }
    });
    y
}

fn sum_fwd<T: Real + PoolElem>(x: &[T], g: &Geo, op: &Pooling) -> Vec<T> {
    let (iu, ou) = (g.in_unit(), g.out_unit());
    let mut y = vec![T::zero(); g.units * ou];
    let wins = g.wins();
    let inc = op.count_include_pad;
    let run = |i: usize, yu: &mut [T]| {
        let xu = &x[i * iu..(i + 1) * iu];
        match (op.pool_type, op.p_value) {
            (PoolType::Avg, _) => sum_unit(xu, yu, g, &wins, inc, |v| v, |s, d| s / d),
            (PoolType::Lp, 2) => sum_unit(xu, yu, g, &wins, inc, |v| v * v, |s, _| s.sqrt()),
            (PoolType::Lp, 3) => sum_unit(xu, yu, g, &wins, inc, |v| v * v * v, |s, _| s.cbrt()),
            _ => sum_unit(xu, yu, g, &wins, inc, |v| v, |s, _| s),
        }
    };
    for_units(&mut y, ou, g.work(), run);
    y
}

/// `_backward_Pooling` on float slices: the gradient of the data.
fn pool_bwd<T: Real + PoolElem>(gy: &[T], x: &[T], y: &[T], g: &Geo, op: &Pooling) -> Vec<T> {
    let (iu, ou) = (g.in_unit(), g.out_unit());
    let mut gx = vec![T::zero(); g.units * iu];
    let wins = g.wins();
    let fast = g.is_2x2();
    let run = |i: usize, gxu: &mut [T]| {
        let xu = &x[i * iu..(i + 1) * iu];
        let gu = &gy[i * ou..(i + 1) * ou];
        let yu = &y[i * ou..(i + 1) * ou];
        match (op.pool_type, op.p_value) {
            (PoolType::Max, _) if fast => max22_bwd(xu, yu, gu, gxu, g),
            (PoolType::Max, _) => each_argmax(xu, g, &wins, |o, xi| gxu[xi] = gxu[xi] + gu[o]),
            (PoolType::Avg, _) => spread_unit(
                xu,
                yu,
                gu,
                gxu,
                g,
                &wins,
                Some(op.count_include_pad),
                |_, _| T::one(),
            ),
            (PoolType::Lp, 2) => spread_unit(xu, yu, gu, gxu, g, &wins, None, |v, o| {
                if o == T::zero() {
                    T::zero()
                } else {
                    v / o
                }
            }),
            (PoolType::Lp, 3) => spread_unit(xu, yu, gu, gxu, g, &wins, None, |v, o| {
                if o == T::zero() {
                    T::zero()
                } else {
                    (v / o) * (v / o)
                }
            }),
            _ => spread_unit(xu, yu, gu, gxu, g, &wins, None, |_, _| T::one()),
        }
    };
    for_units(&mut gx, iu, g.work(), run);
    gx
}

/// The max-pooling selection applied to `h` (shaped like the data): `out[o] = h[argmax_o(x)]`,
/// 0 for a window wholly in the padding. The gradient of `_backward_Pooling` (max) w.r.t. its
/// output gradient.
fn pick<T: Real + PoolElem>(h: &[T], x: &[T], g: &Geo) -> Vec<T> {
    let (iu, ou) = (g.in_unit(), g.out_unit());
    let mut out = vec![T::zero(); g.units * ou];
    let wins = g.wins();
    for_units(&mut out, ou, g.work(), |i, ou_| {
        let xu = &x[i * iu..(i + 1) * iu];
        let hu = &h[i * iu..(i + 1) * iu];
        each_argmax(xu, g, &wins, |o, xi| ou_[o] = hu[xi]);
    });
    out
}

// ---------------------------------------------------------------------------------------------
// The op

impl Pooling {
    fn channel_last(&self, nd: usize, shape: &[usize]) -> Result<bool> {
        match self.layout.as_deref() {
            None => Ok(false),
            Some(l) if l == LAYOUTS_CF[nd - 1] => Ok(false),
            Some(l) if l == LAYOUTS_CL[nd - 1] => Ok(true),
            Some(l) => Err(Error::shape(
                OP,
                format!(
                    "layout {l} does not fit data of shape {} ({nd} spatial dimension{}): expected \
                     {} or {}",
                    sh(shape),
                    if nd == 1 { "" } else { "s" },
                    LAYOUTS_CF[nd - 1],
                    LAYOUTS_CL[nd - 1]
                ),
            )),
        }
    }

    fn check_dtype(&self, d: DType) -> Result<()> {
        let ok = d.is_float() || (d.is_int() && self.pool_type == PoolType::Max);
        if !ok {
            return Err(Error::dtype(
                OP,
                format!(
                    "pool_type='{}' needs a float array, not {d}{}",
                    self.pool_type.name(),
                    if d.is_int() {
                        " (integer arrays take max pooling only)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Ok(())
    }

    fn geometry(&self, shape: &[usize]) -> Result<Geo> {
        let r = shape.len();
        if !(3..=5).contains(&r) {
            return Err(Error::shape(
                OP,
                format!(
                    "data must have 3, 4 or 5 dimensions (batch, channel and 1-3 spatial), got \
                     shape {}",
                    sh(shape)
                ),
            ));
        }
        let nd = r - 2;
        if !self.global_pool && self.kernel.len() != nd {
            return Err(Error::shape(
                OP,
                format!(
                    "kernel {} is {}-D but data of shape {} has {nd} spatial dimension{} (3-D data \
                     pools 1-D, 4-D 2-D, 5-D 3-D)",
                    sh(&self.kernel),
                    self.kernel.len(),
                    sh(shape),
                    if nd == 1 { "" } else { "s" }
                ),
            ));
        }
        let cl = self.channel_last(nd, shape)?;
        let (n, c, sp) = if cl {
            (shape[0], shape[r - 1], &shape[1..r - 1])
        } else {
            (shape[0], shape[1], &shape[2..])
        };
        let (k, s, p) = if self.global_pool {
            (sp.to_vec(), vec![1; nd], vec![0; nd])
        } else {
            let s = if self.stride.is_empty() {
                vec![1; nd]
            } else {
                self.stride.clone()
            };
            let p = if self.pad.is_empty() {
                vec![0; nd]
            } else {
                self.pad.clone()
            };
            for (v, what) in [(&s, "stride"), (&p, "pad")] {
                if v.len() != nd {
                    return Err(Error::value(
                        OP,
                        format!(
                            "{what} {} must have as many dimensions as kernel {}",
                            sh(v),
                            sh(&self.kernel)
                        ),
                    ));
                }
            }
            (self.kernel.clone(), s, p)
        };
        if self.convention == Convention::Same && !self.global_pool {
            if nd != 1 {
                return Err(Error::value(
                    OP,
                    format!(
                        "pooling_convention='same' supports 1-D pooling only (3-D data), got data \
                         of shape {}",
                        sh(shape)
                    ),
                ));
            }
            if p.iter().any(|&v| v != 0) {
                return Err(Error::value(
                    OP,
                    format!(
                        "pooling_convention='same' pads by itself: pad must be 0, got {}",
                        sh(&p)
                    ),
                ));
            }
        }
        let mut o = Vec::with_capacity(nd);
        for d in 0..nd {
            let (x, k, s, p) = (sp[d], k[d], s[d], p[d]);
            if !self.global_pool && k > x + 2 * p {
                return Err(Error::shape(
                    OP,
                    format!(
                        "kernel {} exceeds the input: data of shape {} has spatial size {x} along \
                         dimension {d}, padded to {}",
                        sh(&self.kernel),
                        sh(shape),
                        x + 2 * p
                    ),
                ));
            }
            o.push(if self.global_pool {
                1
            } else {
                match self.convention {
                    Convention::Valid => (x + 2 * p - k) / s + 1,
                    Convention::Full => (x + 2 * p - k).div_ceil(s) + 1,
                    Convention::Same => x.div_ceil(s),
                }
            });
        }
        let mut out_shape = vec![n];
        if !cl {
            out_shape.push(c);
        }
        out_shape.extend_from_slice(&o);
        if cl {
            out_shape.push(c);
        }
        let pad3 = |v: &[usize], fill: usize| -> [usize; 3] {
            let mut a = [fill; 3];
            a[3 - v.len()..].copy_from_slice(v);
            a
        };
        Ok(Geo {
            units: if cl { n } else { n * c },
            cu: if cl { c } else { 1 },
            x: pad3(sp, 1),
            o: pad3(&o, 1),
            k: pad3(&k, 1),
            s: pad3(&s, 1),
            p: pad3(&p, 0),
            out_shape,
        })
    }

    fn forward_typed<T: Real + PoolElem>(&self, x: &Tensor, g: &Geo) -> Result<Tensor> {
        let y = with_slice::<T, _>(OP, x, |xs| {
            Ok(match self.pool_type {
                PoolType::Max => max_fwd(xs, g),
                _ => sum_fwd(xs, g, self),
            })
        })?;
        Tensor::from_vec(y, &g.out_shape)
    }

    fn forward_int<T: PoolElem>(&self, x: &Tensor, g: &Geo) -> Result<Tensor> {
        let y = with_slice::<T, _>(OP, x, |xs| Ok(max_fwd(xs, g)))?;
        Tensor::from_vec(y, &g.out_shape)
    }
}

fn check_count(op: &str, want: usize, got: usize, names: &str) -> Result<()> {
    if want != got {
        return Err(Error::value(
            op,
            format!(
                "expected {want} input{} ({names}), got {got}",
                if want == 1 { "" } else { "s" }
            ),
        ));
    }
    Ok(())
}

impl Op for Pooling {
    fn name(&self) -> &'static str {
        "pooling"
    }
    fn mxnet_name(&self) -> &'static str {
        "Pooling"
    }
    fn attrs(&self) -> Attrs {
        let nk = self.kernel.len();
        let ints = |v: &[usize], fill: i64| -> Attr {
            if v.is_empty() {
                Attr::Ints(vec![fill; nk])
            } else {
                Attr::Ints(v.iter().map(|&d| d as i64).collect())
            }
        };
        Attrs::new()
            .with("kernel", ints(&self.kernel, 1))
            .with("pool_type", Attr::Str(self.pool_type.name().into()))
            .with("global_pool", Attr::Bool(self.global_pool))
            .with(
                "pooling_convention",
                Attr::Str(self.convention.name().into()),
            )
            .with("stride", ints(&self.stride, 1))
            .with("pad", ints(&self.pad, 0))
            .with("p_value", Attr::Int(self.p_value as i64))
            .with("count_include_pad", Attr::Bool(self.count_include_pad))
            .with(
                "layout",
                match &self.layout {
                    Some(l) => Attr::Str(l.clone()),
                    None => Attr::None,
                },
            )
            .with("cudnn_off", Attr::Bool(self.cudnn_off))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        check_count(OP, 1, i.len(), "data")?;
        self.check_dtype(i[0].dtype)?;
        let g = self.geometry(&i[0].shape)?;
        Ok(vec![Meta::new(g.out_shape, i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        check_count(OP, 1, x.len(), "data")?;
        let d = x[0].dtype();
        self.check_dtype(d)?;
        let g = self.geometry(x[0].shape())?;
        let y = match d {
            DType::F64 => self.forward_typed::<f64>(&x[0], &g)?,
            DType::F32 | DType::F16 | DType::BF16 => {
                self.forward_typed::<f32>(&x[0], &g)?.cast_to(d)?
            }
            DType::I8 => self.forward_int::<i8>(&x[0], &g)?,
            DType::U8 => self.forward_int::<u8>(&x[0], &g)?,
            DType::I32 => self.forward_int::<i32>(&x[0], &g)?,
            DType::I64 => self.forward_int::<i64>(&x[0], &g)?,
            DType::Bool => unreachable!("checked above"),
        };
        Ok(vec![y])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let y = ctx.output(0)?;
        let dx = apply1(Arc::new(PoolingGrad(self.clone())), &[&g, ctx.input(0), &y])?;
        Ok(vec![Some(dx)])
    }
}

/// `_backward_Pooling(grad_out, data, out)`: the gradient of the data.
pub struct PoolingGrad(pub Pooling);

impl PoolingGrad {
    fn check(&self, i: &[Meta]) -> Result<Geo> {
        const OPB: &str = "_backward_Pooling";
        check_count(OPB, 3, i.len(), "grad_out, data, out")?;
        if !i[1].dtype.is_float() {
            return Err(Error::dtype(
                OP,
                format!("gradients need a float array, not {}", i[1].dtype),
            ));
        }
        let g = self.0.geometry(&i[1].shape)?;
        for (m, what) in [(&i[0], "output gradient"), (&i[2], "output")] {
            if m.shape.as_slice() != g.out_shape.as_slice() {
                return Err(Error::shape(
                    OP,
                    format!(
                        "{what} has shape {}, expected {} for data of shape {}",
                        sh(&m.shape),
                        sh(&g.out_shape),
                        sh(&i[1].shape)
                    ),
                ));
            }
        }
        Ok(g)
    }
}

impl Op for PoolingGrad {
    fn name(&self) -> &'static str {
        "_backward_Pooling"
    }
    fn attrs(&self) -> Attrs {
        self.0.attrs()
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        self.check(i)?;
        Ok(vec![i[1].clone()])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let g = self.check(&metas)?;
        let d = x[1].dtype();
        fn run<T: Real + PoolElem>(op: &Pooling, x: &[Tensor], g: &Geo) -> Result<Tensor> {
            let v = with_slice::<T, _>(OP, &x[0], |gy| {
                with_slice::<T, _>(OP, &x[1], |xs| {
                    with_slice::<T, _>(OP, &x[2], |ys| Ok(pool_bwd(gy, xs, ys, g, op)))
                })
            })?;
            Tensor::from_vec(v, x[1].shape())
        }
        let t = if d == DType::F64 {
            run::<f64>(&self.0, x, &g)?
        } else {
            run::<f32>(&self.0, x, &g)?.cast_to(d)?
        };
        Ok(vec![t])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        // Linear in the output gradient; piecewise constant in the data for max, avg and sum.
        let h = g[0].clone().expect("single output");
        let dg = match self.0.pool_type {
            PoolType::Max => apply1(Arc::new(PoolPick(self.0.clone())), &[&h, ctx.input(1)])?,
            PoolType::Avg | PoolType::Sum => apply1(Arc::new(self.0.clone()), &[&h])?,
            PoolType::Lp => {
                return Err(Error::Autograd(
                    "Pooling: higher-order gradients of lp pooling are not supported".into(),
                ))
            }
        };
        Ok(vec![Some(dg.cast_to(ctx.input(0).dtype())?), None, None])
    }
}

/// `(h, data) -> h at each max-pooling window's first maximum of data`: the gradient of
/// `_backward_Pooling` (max) w.r.t. its output gradient.
pub struct PoolPick(pub Pooling);

impl Op for PoolPick {
    fn name(&self) -> &'static str {
        "_backward_backward_Pooling"
    }
    fn attrs(&self) -> Attrs {
        self.0.attrs()
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        check_count(self.name(), 2, i.len(), "h, data")?;
        let g = self.0.geometry(&i[1].shape)?;
        Ok(vec![Meta::new(g.out_shape, i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        check_count(self.name(), 2, x.len(), "h, data")?;
        let g = self.0.geometry(x[1].shape())?;
        if x[0].shape() != x[1].shape() {
            return Err(Error::shape(
                OP,
                format!(
                    "h has shape {}, expected the data's {}",
                    sh(x[0].shape()),
                    sh(x[1].shape())
                ),
            ));
        }
        fn run<T: Real + PoolElem>(x: &[Tensor], g: &Geo) -> Result<Tensor> {
            let v = with_slice::<T, _>(OP, &x[0], |hs| {
                with_slice::<T, _>(OP, &x[1], |xs| Ok(pick(hs, xs, g)))
            })?;
            Tensor::from_vec(v, &g.out_shape)
        }
        let d = x[0].dtype();
        let t = if d == DType::F64 {
            run::<f64>(x, &g)?
        } else {
            run::<f32>(x, &g)?.cast_to(d)?
        };
        Ok(vec![t])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let k = g[0].clone().expect("single output");
        // Max pooling's gradient does not read the output: pass the gradient in its place.
        let dh = apply1(
            Arc::new(PoolingGrad(self.0.clone())),
            &[&k, ctx.input(1), &k],
        )?;
        Ok(vec![Some(dh), None])
    }
}

fn positive(v: &[i64], what: &str, min: i64) -> Result<Vec<usize>> {
    if v.iter().any(|&d| d < min) {
        let s: Vec<usize> = v.iter().map(|&d| d.max(0) as usize).collect();
        let shown = if v.iter().any(|&d| d < 0) {
            format!("{v:?}")
        } else {
            sh(&s)
        };
        return Err(Error::value(
            OP,
            format!(
                "{what} must be {}, got {shown}",
                if min == 0 { "non-negative" } else { "positive" }
            ),
        ));
    }
    Ok(v.iter().map(|&d| d as usize).collect())
}

fn pooling_builder(a: &Attrs) -> Result<Arc<dyn Op>> {
    let global_pool = a.bool(OP, "global_pool", false)?;
    let kernel = positive(&a.ints(OP, "kernel", &[])?, "kernel", 1)?;
    if !global_pool && kernel.is_empty() {
        return Err(Error::value(
            OP,
            "kernel is required unless global_pool=True",
        ));
    }
    if kernel.len() > 3 {
        return Err(Error::value(
            OP,
            format!(
                "kernel {} has {} dimensions: 1-D, 2-D or 3-D pooling only",
                sh(&kernel),
                kernel.len()
            ),
        ));
    }
    let stride = positive(&a.ints(OP, "stride", &[])?, "stride", 1)?;
    let pad = positive(&a.ints(OP, "pad", &[])?, "pad", 0)?;
    let pool_type = PoolType::parse(&a.str("pool_type", "max"))?;
    let convention = match a.str("pooling_convention", "valid").as_str() {
        "valid" => Convention::Valid,
        "full" => Convention::Full,
        "same" => Convention::Same,
        s => {
            return Err(Error::value(
                OP,
                format!("pooling_convention must be 'valid', 'full' or 'same', not {s:?}"),
            ))
        }
    };
    let p = a.int(OP, "p_value", 2)?;
    if pool_type == PoolType::Lp && !(1..=3).contains(&p) {
        return Err(Error::value(
            OP,
            format!("p_value={p} is not supported: lp pooling takes p_value 1, 2 or 3"),
        ));
    }
    let layout = a.opt_str("layout");
    if let Some(l) = &layout {
        if !LAYOUTS_CF.contains(&l.as_str()) && !LAYOUTS_CL.contains(&l.as_str()) {
            return Err(Error::value(
                OP,
                format!(
                    "layout must be one of NCW, NCHW, NCDHW, NWC, NHWC, NDHWC (or None), not {l:?}"
                ),
            ));
        }
    }
    Ok(Arc::new(Pooling {
        kernel,
        pool_type,
        global_pool,
        convention,
        stride,
        pad,
        p_value: p.clamp(1, 3) as u32,
        count_include_pad: a.bool(OP, "count_include_pad", true)?,
        layout,
        cudnn_off: a.bool(OP, "cudnn_off", false)?,
    }))
}

pub fn register(r: &mut Registry) {
    for n in ["pooling", "Pooling", "_npx_pooling"] {
        r.insert(n, pooling_builder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{build, invoke};

    fn attrs(kv: &[(&str, Attr)]) -> Attrs {
        let mut a = Attrs::new();
        for (k, v) in kv {
            a.set(k, v.clone());
        }
        a
    }

    /// A direct reference over the NCHW grid (2-D, channel-first), in f64.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[f64],
        (n, c, h, w): (usize, usize, usize, usize),
        k: [usize; 2],
        s: [usize; 2],
        p: [usize; 2],
        full: bool,
        kind: &str,
        include: bool,
    ) -> (Vec<f64>, usize, usize) {
        let osz = |x: usize, k: usize, s: usize, p: usize| {
            let span = x + 2 * p - k;
            if full {
                span.div_ceil(s) + 1
            } else {
                span / s + 1
            }
        };
        let (ho, wo) = (osz(h, k[0], s[0], p[0]), osz(w, k[1], s[1], p[1]));
        let mut out = vec![0.0; n * c * ho * wo];
        for pl in 0..n * c {
            for i in 0..ho {
                for j in 0..wo {
                    let (h0, w0) = (
                        (i * s[0]) as isize - p[0] as isize,
                        (j * s[1]) as isize - p[1] as isize,
                    );
                    let mut vals = vec![];
                    let mut padded = 0;
                    for a in h0..h0 + k[0] as isize {
                        for b in w0..w0 + k[1] as isize {
                            if a < (h + p[0]) as isize && b < (w + p[1]) as isize {
                                padded += 1;
                            }
                            if a >= 0 && b >= 0 && (a as usize) < h && (b as usize) < w {
                                vals.push(x[pl * h * w + a as usize * w + b as usize]);
                            }
                        }
                    }
                    let v = match kind {
                        "max" => vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                        "sum" => vals.iter().sum(),
                        "avg" => {
                            vals.iter().sum::<f64>()
                                / if include { padded } else { vals.len() } as f64
                        }
                        _ => vals.iter().map(|v| v * v).sum::<f64>().sqrt(),
                    };
                    out[(pl * ho + i) * wo + j] = v;
                }
            }
        }
        (out, ho, wo)
    }

    #[test]
    fn forward_matches_reference_grid() {
        let dims = (2, 3, 7, 6);
        let len = 2 * 3 * 7 * 6;
        let xs: Vec<f64> = (0..len)
            .map(|i| ((i * 37) % 101) as f64 * 0.1 - 5.0)
            .collect();
        let x = Tensor::from_vec(xs.clone(), &[2, 3, 7, 6]).unwrap();
        for kind in ["max", "avg", "sum", "lp"] {
            for (k, s, p) in [
                ([2, 2], [2, 2], [0, 0]),
                ([3, 2], [2, 1], [1, 1]),
                ([3, 3], [2, 3], [1, 0]),
            ] {
                for full in [false, true] {
                    for include in [true, false] {
                        let a = attrs(&[
                            ("kernel", Attr::Ints(k.iter().map(|&v| v as i64).collect())),
                            ("stride", Attr::Ints(s.iter().map(|&v| v as i64).collect())),
                            ("pad", Attr::Ints(p.iter().map(|&v| v as i64).collect())),
                            ("pool_type", Attr::Str(kind.into())),
                            (
                                "pooling_convention",
                                Attr::Str(if full { "full" } else { "valid" }.into()),
                            ),
                            ("count_include_pad", Attr::Bool(include)),
                        ]);
                        let y = invoke("pooling", &[&x], &a).unwrap().remove(0);
                        let (want, ho, wo) = reference(&xs, dims, k, s, p, full, kind, include);
                        assert_eq!(y.shape().as_slice(), &[2, 3, ho, wo]);
                        let got = y.to_f64_vec().unwrap();
                        for (g, w) in got.iter().zip(&want) {
                            assert!((g - w).abs() < 1e-9, "{kind} {k:?} {s:?} {p:?}: {g} vs {w}");
                        }
                        // The same through NHWC.
                        let xt = x.transpose(Some(vec![0, 2, 3, 1])).unwrap();
                        let mut a2 = a.clone();
                        a2.set("layout", Attr::Str("NHWC".into()));
                        let yt = invoke("Pooling", &[&xt], &a2).unwrap().remove(0);
                        let back = yt
                            .transpose(Some(vec![0, 3, 1, 2]))
                            .unwrap()
                            .to_f64_vec()
                            .unwrap();
                        for (g, w) in back.iter().zip(&want) {
                            assert!((g - w).abs() < 1e-9, "NHWC {kind}: {g} vs {w}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn max_backward_routes_to_first_maximum() {
        // Ties: every window's gradient goes to its first maximum only.
        let x = Tensor::from_vec(vec![1.0f32; 16], &[1, 1, 4, 4]).unwrap();
        let op = build(
            "pooling",
            &attrs(&[
                ("kernel", Attr::Ints(vec![2, 2])),
                ("stride", Attr::Ints(vec![2, 2])),
            ]),
        )
        .unwrap();
        let y = apply1(op.clone(), &[&x]).unwrap();
        let g = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[1, 1, 2, 2]).unwrap();
        let pg = Arc::new(PoolingGrad(Pooling {
            kernel: vec![2, 2],
            pool_type: PoolType::Max,
            global_pool: false,
            convention: Convention::Valid,
            stride: vec![2, 2],
            pad: vec![],
            p_value: 2,
            count_include_pad: true,
            layout: None,
            cudnn_off: false,
        }));
        let dx = apply1(pg, &[&g, &x, &y]).unwrap().to_f64_vec().unwrap();
        let mut want = vec![0.0; 16];
        want[0] = 1.0;
        want[2] = 2.0;
        want[8] = 3.0;
        want[10] = 4.0;
        assert_eq!(dx, want);
    }

    #[test]
    fn shapes_and_errors() {
        let x = Tensor::zeros(&[1, 2, 5], DType::F32, crate::Device::Cpu(0)).unwrap();
        let op = |kv: &[(&str, Attr)]| build("pooling", &attrs(kv));
        let same = op(&[
            ("kernel", Attr::Ints(vec![3])),
            ("stride", Attr::Ints(vec![2])),
            ("pooling_convention", Attr::Str("same".into())),
        ])
        .unwrap();
        assert_eq!(
            same.infer(&[Meta::of(&x)]).unwrap()[0].shape.as_slice(),
            &[1, 2, 3]
        );
        let glob = op(&[
            ("global_pool", Attr::Bool(true)),
            ("pool_type", Attr::Str("avg".into())),
        ])
        .unwrap();
        assert_eq!(
            glob.infer(&[Meta::of(&x)]).unwrap()[0].shape.as_slice(),
            &[1, 2, 1]
        );
        let big = op(&[("kernel", Attr::Ints(vec![7]))]).unwrap();
        let e = big.infer(&[Meta::of(&x)]).unwrap_err().to_string();
        assert!(e.contains("exceeds") && e.contains("(1, 2, 5)"), "{e}");
        assert!(op(&[
            ("kernel", Attr::Ints(vec![2])),
            ("stride", Attr::Ints(vec![0]))
        ])
        .is_err());
        assert!(op(&[("kernel", Attr::Str("(2, 2)".into()))])
            .unwrap()
            .infer(&[Meta::of(&x)])
            .is_err());
        let xi = Tensor::zeros(&[1, 2, 5], DType::I32, crate::Device::Cpu(0)).unwrap();
        let avg = op(&[
            ("kernel", Attr::Ints(vec![2])),
            ("pool_type", Attr::Str("avg".into())),
        ])
        .unwrap();
        assert!(avg.infer(&[Meta::of(&xi)]).is_err());
        assert!(big
            .attrs()
            .to_mxnet_strings()
            .iter()
            .any(|(k, v)| k == "kernel" && v == "(7,)"));
    }
}
