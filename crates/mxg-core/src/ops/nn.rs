//! Neural-network activations: `softmax` and `log_softmax` (one fused, numerically stable kernel
//! each, with MXNet's temperature and optional length mask), `Activation` (a fused kernel per
//! `act_type`, and `_backward_Activation` for its derivatives) and `LeakyReLU` (leaky, prelu, elu,
//! selu, gelu, gelu_tanh).
//!
//! The softmax gradients are dedicated fused ops (`_backward_softmax`, `_backward_log_softmax`)
//! whose own backward rules are written with tensor ops, so gradients of any order work.
use super::elementwise::{Bin, Un};
use super::{apply1, unbroadcast, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::backend::cpu::{self, num::erf, num::Num, num::Real};
use crate::layout::{broadcast_shapes, norm_axis};
use crate::storage::CpuElement;
use crate::{DType, Error, Result, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

/// Half floats and integers compute in float32, float64 in float64.
fn compute_dtype(d: DType) -> DType {
    if d == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// Sizes before, along and after `axis`.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// The data shape without `axis`: the shape `length` must have.
fn length_shape(shape: &[usize], axis: usize) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != axis)
        .map(|(_, &d)| d)
        .collect()
}

fn check_length(op: &str, data: &[usize], axis: usize, len: &Meta) -> Result<()> {
    let want = length_shape(data, axis);
    if len.shape != want {
        return Err(Error::shape(
            op,
            format!(
                "length has shape {:?}, expected {want:?} (the data shape {data:?} without axis {axis})",
                len.shape
            ),
        ));
    }
    if len.dtype == DType::Bool {
        return Err(Error::dtype(op, "length must hold integers, not bool"));
    }
    Ok(())
}

/// The lengths, one per line, clamped to `[0, m]`.
fn lengths(len: &Tensor, m: usize) -> Result<Vec<usize>> {
    Ok(len
        .to_f64_vec()?
        .into_iter()
        .map(|v| {
            if v.is_nan() || v <= 0.0 {
                0
            } else {
                (v as usize).min(m)
            }
        })
        .collect())
}

/// 1 where a position is inside its line's length, else 0, in `dtype` (a constant: no gradient).
fn length_mask(len: &Tensor, shape: &[usize], axis: usize, dtype: DType) -> Result<Tensor> {
    let (outer, m, inner) = split_at_axis(shape, axis);
    let lens = lengths(len, m)?;
    let mut mask = vec![0f64; outer * m * inner];
    for b in 0..outer {
        for j in 0..m {
            for i in 0..inner {
                if j < lens[b * inner + i] {
                    mask[(b * m + j) * inner + i] = 1.0;
                }
            }
        }
    }
    Tensor::from_vec(mask, shape)?.cast_copy(dtype)
}

// ---------------------------------------------------------------------------------------------
// Kernels. Data is contiguous, split into `outer` blocks of `m * inner`; each line runs along the
// axis with stride `inner`. Blocks run in parallel when the data is large.

pub(crate) fn for_blocks<T: Send + Sync + Copy, F>(out: &mut [T], block: usize, f: F)
where
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    if block == 0 {
        return;
    }
    if cpu::parallel(out.len()) && out.len() > block {
        out.par_chunks_mut(block)
            .enumerate()
            .for_each(|(b, o)| f(b, o));
    } else {
        out.chunks_mut(block).enumerate().for_each(|(b, o)| f(b, o));
    }
}

/// Softmax (or log-softmax) of one contiguous line of `len` valid elements.
#[inline(always)]
fn softmax_line<T: Real>(x: &[T], o: &mut [T], it: T, log: bool) {
    let zero = T::zero();
    if x.is_empty() {
        return;
    }
    let mut mx = x[0];
    for &v in x {
        if v > mx {
            mx = v;
        }
    }
    if log {
        let mut s = zero;
        for &v in x {
            s = s + ((v - mx) * it).exp();
        }
        let ls = s.ln();
        for (o, &v) in o.iter_mut().zip(x) {
            *o = (v - mx) * it - ls;
        }
    } else {
        let mut s = zero;
        for (o, &v) in o.iter_mut().zip(x) {
            let e = ((v - mx) * it).exp();
            *o = e;
            s = s + e;
        }
        let r = T::one() / s;
        for o in o.iter_mut() {
            *o = *o * r;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn softmax_kernel<T: Real>(
    x: &[T],
    out: &mut [T],
    m: usize,
    inner: usize,
    lens: Option<&[usize]>,
    temperature: f64,
    log: bool,
) {
    let it = T::from_f(1.0 / temperature);
    let zero = T::zero();
    for_blocks(out, m * inner, |b, o| {
        let xs = &x[b * m * inner..(b + 1) * m * inner];
        if inner == 1 {
            let len = lens.map_or(m, |l| l[b]);
            softmax_line(&xs[..len], &mut o[..len], it, log);
            o[len..].iter_mut().for_each(|v| *v = zero);
            return;
        }
        // Lines are strided: work on all `inner` lines of the block at once, row by row.
        let len: Vec<usize> = (0..inner)
            .map(|i| lens.map_or(m, |l| l[b * inner + i]))
            .collect();
        let mut mx = vec![T::from_f(f64::NEG_INFINITY); inner];
        let mut first = vec![true; inner];
        for j in 0..m {
            for i in 0..inner {
                let v = xs[j * inner + i];
                if j < len[i] && (first[i] || v > mx[i]) {
                    mx[i] = v;
                    first[i] = false;
                }
            }
        }
        let mut s = vec![zero; inner];
        for j in 0..m {
            for i in 0..inner {
                let k = j * inner + i;
                if j < len[i] {
                    let e = ((xs[k] - mx[i]) * it).exp();
                    s[i] = s[i] + e;
                    o[k] = e;
                } else {
                    o[k] = zero;
                }
            }
        }
        if log {
            let ls: Vec<T> = s.iter().map(|&v| v.ln()).collect();
            for j in 0..m {
                for i in 0..inner {
                    let k = j * inner + i;
                    if j < len[i] {
                        o[k] = (xs[k] - mx[i]) * it - ls[i];
                    }
                }
            }
        } else {
            let r: Vec<T> = s.iter().map(|&v| T::one() / v).collect();
            for j in 0..m {
                for i in 0..inner {
                    let k = j * inner + i;
                    if j < len[i] {
                        o[k] = o[k] * r[i];
                    }
                }
            }
        }
    });
}

/// softmax: dx = y (g - sum(g y)) / t.  log_softmax: dx = (g - exp(y) sum(g)) / t inside the
/// length, 0 outside.
#[allow(clippy::too_many_arguments)]
fn softmax_grad_kernel<T: Real>(
    g: &[T],
    y: &[T],
    out: &mut [T],
    m: usize,
    inner: usize,
    lens: Option<&[usize]>,
    temperature: f64,
    log: bool,
) {
    let it = T::from_f(1.0 / temperature);
    let zero = T::zero();
    for_blocks(out, m * inner, |b, o| {
        let base = b * m * inner;
        let (gs, ys) = (&g[base..base + m * inner], &y[base..base + m * inner]);
        if inner == 1 {
            let len = lens.map_or(m, |l| l[b]);
            if log {
                let mut s = zero;
                for &v in &gs[..len] {
                    s = s + v;
                }
                for j in 0..len {
                    o[j] = (gs[j] - ys[j].exp() * s) * it;
                }
            } else {
                let mut s = zero;
                for j in 0..len {
                    s = s + gs[j] * ys[j];
                }
                for j in 0..len {
                    o[j] = ys[j] * (gs[j] - s) * it;
                }
            }
            o[len..].iter_mut().for_each(|v| *v = zero);
            return;
        }
        let len: Vec<usize> = (0..inner)
            .map(|i| lens.map_or(m, |l| l[b * inner + i]))
            .collect();
        let mut s = vec![zero; inner];
        for j in 0..m {
            for i in 0..inner {
                let k = j * inner + i;
                if j < len[i] {
                    s[i] = s[i] + if log { gs[k] } else { gs[k] * ys[k] };
                }
            }
        }
        for j in 0..m {
            for i in 0..inner {
                let k = j * inner + i;
                o[k] = if j >= len[i] {
                    zero
                } else if log {
                    (gs[k] - ys[k].exp() * s[i]) * it
                } else {
                    ys[k] * (gs[k] - s[i]) * it
                };
            }
        }
    });
}

/// Runs `$body` with `$s` the contiguous slices of `$ts` cast to `$ct` (float32 or float64) and
/// `$o` a zeroed output of `$shape`; returns that output as a tensor in dtype `$out`.
macro_rules! run_real {
    ($op:expr, $ts:expr, $ct:expr, $shape:expr, $out:expr, |$s:ident, $o:ident| $body:expr) => {{
        fn prep<'a, T: CpuElement>(
            op: &str,
            cs: &'a [Tensor],
            guards: &'a [std::sync::RwLockReadGuard<'a, crate::Storage>],
        ) -> Result<Vec<&'a [T]>> {
            cs.iter()
                .zip(guards.iter())
                .map(|(t, st)| {
                    let s = T::slice(st.cpu(op)?);
                    Ok(&s[t.layout().offset..t.layout().offset + t.numel()])
                })
                .collect()
        }
        let cs: Vec<Tensor> = $ts
            .iter()
            .map(|t: &&Tensor| t.cast_to($ct).and_then(|t| t.contiguous()))
            .collect::<Result<_>>()?;
        let guards = cs.iter().map(|t| t.storage()).collect::<Result<Vec<_>>>()?;
        let n: usize = $shape.iter().product();
        let t = if $ct == DType::F64 {
            let $s = prep::<f64>($op, &cs, &guards)?;
            let mut $o = vec![0f64; n];
            $body;
            Tensor::from_vec($o, $shape)?
        } else {
            let $s = prep::<f32>($op, &cs, &guards)?;
            let mut $o = vec![0f32; n];
            $body;
            Tensor::from_vec($o, $shape)?
        };
        drop(guards);
        t.cast_to($out)?
    }};
}

// ---------------------------------------------------------------------------------------------
// softmax / log_softmax

/// `softmax(data, length=None, axis=-1, temperature=None, use_length=False, dtype=None)`, and
/// `log_softmax` with the same arguments.
#[derive(Clone, Debug)]
pub struct Softmax {
    pub log: bool,
    pub axis: i64,
    pub temperature: Option<f64>,
    pub use_length: bool,
    pub dtype: Option<DType>,
}

impl Softmax {
    fn op_name(&self) -> &'static str {
        if self.log {
            "log_softmax"
        } else {
            "softmax"
        }
    }
    fn t(&self) -> f64 {
        self.temperature.unwrap_or(1.0)
    }
    fn common_attrs(&self) -> Attrs {
        Attrs::new()
            .with("axis", Attr::Int(self.axis))
            .with(
                "temperature",
                self.temperature.map_or(Attr::None, Attr::Float),
            )
            .with("use_length", Attr::Bool(self.use_length))
    }
    fn out_dtype(&self, x: DType) -> DType {
        self.dtype
            .unwrap_or(if x.is_float() { x } else { DType::F32 })
    }
    fn check(&self, i: &[Meta]) -> Result<usize> {
        let op = self.op_name();
        let want = if self.use_length { 2 } else { 1 };
        if i.len() != want {
            return Err(Error::value(
                op,
                format!(
                    "expected {want} input(s) (data{}), got {}",
                    if self.use_length { ", length" } else { "" },
                    i.len()
                ),
            ));
        }
        if i[0].shape.is_empty() {
            return Err(Error::shape(op, "data must have at least one dimension"));
        }
        let axis = norm_axis(op, self.axis as isize, i[0].shape.len())?;
        if self.use_length {
            check_length(op, &i[0].shape, axis, &i[1])?;
        }
        if let Some(d) = self.dtype {
            if !d.is_float() {
                return Err(Error::dtype(
                    op,
                    format!("dtype must be a float type, not {d}"),
                ));
            }
        }
        if self.t() == 0.0 || self.t().is_nan() {
            return Err(Error::value(op, "temperature must be a non-zero number"));
        }
        Ok(axis)
    }
}

impl Op for Softmax {
    fn name(&self) -> &'static str {
        self.op_name()
    }
    fn attrs(&self) -> Attrs {
        self.common_attrs().with(
            "dtype",
            self.dtype
                .map_or(Attr::None, |d| Attr::Str(d.name().into())),
        )
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        self.check(i)?;
        Ok(vec![Meta::new(
            i[0].shape.clone(),
            self.out_dtype(i[0].dtype),
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let axis = self.check(&metas)?;
        let shape = x[0].shape().clone();
        let (_, m, inner) = split_at_axis(&shape, axis);
        let lens = if self.use_length {
            Some(lengths(&x[1], m)?)
        } else {
            None
        };
        let out_dt = self.out_dtype(x[0].dtype());
        let ct = if x[0].dtype() == DType::F64 || out_dt == DType::F64 {
            DType::F64
        } else {
            DType::F32
        };
        let (t, log) = (self.t(), self.log);
        let y = run_real!(self.op_name(), [&x[0]], ct, &shape, out_dt, |s, o| {
            softmax_kernel(s[0], &mut o, m, inner, lens.as_deref(), t, log)
        });
        Ok(vec![y])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let x = ctx.input(0);
        let y = ctx.output(0)?;
        let grad_op = Arc::new(SoftmaxGrad(self.clone()));
        let dx = if self.use_length {
            apply1(grad_op, &[&g, &y, ctx.input(1)])?
        } else {
            apply1(grad_op, &[&g, &y])?
        };
        let dx = if x.dtype().is_float() {
            dx.cast(x.dtype())?
        } else {
            dx
        };
        let mut out = vec![Some(dx)];
        if self.use_length {
            out.push(None);
        }
        Ok(out)
    }
}

/// The gradient of softmax / log_softmax from the output gradient `g` and the output `y` (and the
/// length, when used). Its own backward is written with tensor ops.
pub struct SoftmaxGrad(pub Softmax);

impl Op for SoftmaxGrad {
    fn name(&self) -> &'static str {
        if self.0.log {
            "_backward_log_softmax"
        } else {
            "_backward_softmax"
        }
    }
    fn attrs(&self) -> Attrs {
        self.0.common_attrs()
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let want = if self.0.use_length { 3 } else { 2 };
        if i.len() != want {
            return Err(Error::value(
                self.name(),
                format!("expected {want} inputs, got {}", i.len()),
            ));
        }
        if i[0].shape != i[1].shape {
            return Err(Error::shapes(
                self.name(),
                &[&i[0].shape, &i[1].shape],
                "the output gradient and the output must have one shape",
            ));
        }
        Ok(vec![Meta::new(i[1].shape.clone(), i[1].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let m0 = self.infer(&metas)?.swap_remove(0);
        let shape = m0.shape;
        if shape.is_empty() {
            return Err(Error::shape(
                self.name(),
                "data must have at least one dimension",
            ));
        }
        let axis = norm_axis(self.name(), self.0.axis as isize, shape.len())?;
        let (_, m, inner) = split_at_axis(&shape, axis);
        let lens = if self.0.use_length {
            Some(lengths(&x[2], m)?)
        } else {
            None
        };
        let ct = compute_dtype(m0.dtype);
        let (t, log) = (self.0.t(), self.0.log);
        let dx = run_real!(self.name(), [&x[0], &x[1]], ct, &shape, m0.dtype, |s, o| {
            softmax_grad_kernel(s[0], s[1], &mut o, m, inner, lens.as_deref(), t, log)
        });
        Ok(vec![dx])
    }
    fn backward(&self, ctx: &Ctx, grads: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let h = grads[0].clone().expect("single output");
        let (g, y) = (ctx.input(0), ctx.input(1));
        let axis = norm_axis(self.name(), self.0.axis as isize, y.ndim())? as isize;
        let it = 1.0 / self.0.t();
        let scale = |t: Tensor| -> Result<Tensor> {
            if it == 1.0 {
                Ok(t)
            } else {
                t.scalar_op(Bin::Mul, it, false)
            }
        };
        let sum = |t: &Tensor| t.sum_axes(&[axis], true);
        let (dg, dy) = if !self.0.log {
            // dx = y (g - s) / t, s = sum(g y): dg = same rule on h; dy = (h (g - s) - g r) / t.
            let dg = apply1(
                Arc::new(SoftmaxGrad(Softmax {
                    use_length: false,
                    ..self.0.clone()
                })),
                &[&h, y],
            )?;
            let s = sum(&g.mul(y)?)?;
            let r = sum(&h.mul(y)?)?;
            let dy = scale(h.mul(&g.sub(&s)?)?.sub(&g.mul(&r)?)?)?;
            (dg, dy)
        } else {
            // dx = m (g - p S) / t, p = exp(y) m, S = sum(m g):
            // dg = m (h - sum(h p)) / t; dy = -h p S / t.
            let mask = if self.0.use_length {
                Some(length_mask(
                    ctx.input(2),
                    y.shape(),
                    axis as usize,
                    y.dtype(),
                )?)
            } else {
                None
            };
            let with_mask = |t: Tensor| -> Result<Tensor> {
                match &mask {
                    Some(m) => t.mul(m),
                    None => Ok(t),
                }
            };
            let p = with_mask(y.unary(Un::Exp)?)?;
            let hp = h.mul(&p)?;
            let dg = scale(with_mask(h.sub(&sum(&hp)?)?)?)?;
            let big_s = sum(&with_mask(g.clone())?)?;
            let dy = scale(hp.mul(&big_s)?.neg()?)?;
            (dg, dy)
        };
        let mut out = vec![Some(dg.cast(g.dtype())?), Some(dy.cast(y.dtype())?)];
        if self.0.use_length {
            out.push(None);
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Activation

/// MXNet's `act_type`s: the classic five, and log_sigmoid, mish, silu, gelu (erf form) and
/// gelu_tanh. One fused kernel for the function and one for each of its first two derivatives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Relu,
    Sigmoid,
    Tanh,
    Softrelu,
    Softsign,
    LogSigmoid,
    Mish,
    Silu,
    Gelu,
    GeluTanh,
}

/// Runs `$body` with `$a` bound to `$act` as a constant, so the per-element `match` inside
/// `Act::f`/`d1`/`d2` folds away and each element loop is specialised to one activation.
macro_rules! with_const_act {
    ($act:expr, $a:ident => $body:expr) => {
        match $act {
            Act::Relu => {
                const $a: Act = Act::Relu;
                $body
            }
            Act::Sigmoid => {
                const $a: Act = Act::Sigmoid;
                $body
            }
            Act::Tanh => {
                const $a: Act = Act::Tanh;
                $body
            }
            Act::Softrelu => {
                const $a: Act = Act::Softrelu;
                $body
            }
            Act::Softsign => {
                const $a: Act = Act::Softsign;
                $body
            }
            Act::LogSigmoid => {
                const $a: Act = Act::LogSigmoid;
                $body
            }
            Act::Mish => {
                const $a: Act = Act::Mish;
                $body
            }
            Act::Silu => {
                const $a: Act = Act::Silu;
                $body
            }
            Act::Gelu => {
                const $a: Act = Act::Gelu;
                $body
            }
            Act::GeluTanh => {
                const $a: Act = Act::GeluTanh;
                $body
            }
        }
    };
}
pub(crate) use with_const_act;

const ACTS: [Act; 10] = [
    Act::Relu,
    Act::Sigmoid,
    Act::Tanh,
    Act::Softrelu,
    Act::Softsign,
    Act::LogSigmoid,
    Act::Mish,
    Act::Silu,
    Act::Gelu,
    Act::GeluTanh,
];

/// log(1 + exp(v)) without overflow.
#[inline(always)]
fn softplus<T: Real>(v: T) -> T {
    let zero = T::zero();
    let a = if v > zero { v } else { zero };
    a + (zero - if v > zero { v } else { zero - v }).exp().ln_1p()
}

impl Act {
    pub fn name(self) -> &'static str {
        match self {
            Act::Relu => "relu",
            Act::Sigmoid => "sigmoid",
            Act::Tanh => "tanh",
            Act::Softrelu => "softrelu",
            Act::Softsign => "softsign",
            Act::LogSigmoid => "log_sigmoid",
            Act::Mish => "mish",
            Act::Silu => "silu",
            Act::Gelu => "gelu",
            Act::GeluTanh => "gelu_tanh",
        }
    }

    pub fn from_name(op: &str, s: &str) -> Result<Act> {
        ACTS.iter().copied().find(|a| a.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ACTS.iter().map(|a| a.name()).collect();
            Error::value(
                op,
                format!(
                    "act_type {s:?} is not supported (expected one of {})",
                    names.join(", ")
                ),
            )
        })
    }

    /// Whether the derivative is written in terms of the output (as MXNet's backward does) rather
    /// than the input: then the backward pass needs only the output.
    pub fn from_output(self) -> bool {
        !matches!(self, Act::Mish | Act::Silu | Act::Gelu | Act::GeluTanh)
    }

    #[inline(always)]
    pub fn f<T: Real>(self, v: T) -> T {
        let (zero, one, half) = (T::zero(), T::one(), T::from_f(0.5));
        match self {
            Act::Relu => {
                if v > zero || v.is_nan() {
                    v
                } else {
                    zero
                }
            }
            Act::Sigmoid => v.sigmoid(),
            Act::Tanh => v.tanh_act(),
            Act::Softrelu => softplus(v),
            Act::Softsign => v / (one + <T as Num>::abs(v)),
            Act::LogSigmoid => zero - softplus(zero - v),
            Act::Mish => v * softplus(v).tanh(),
            Act::Silu => v * v.sigmoid(),
            Act::Gelu => half * v * (one + T::from_f(erf(v.f() * std::f64::consts::FRAC_1_SQRT_2))),
            Act::GeluTanh => {
                let (k, c) = (T::from_f(SQRT_2_OVER_PI), T::from_f(GELU_C));
                half * v * (one + (k * (v + c * v * v * v)).tanh())
            }
        }
    }

    /// The first derivative, as a function of the output (`from_output`) or else of the input.
    #[inline(always)]
    pub fn d1<T: Real>(self, v: T) -> T {
        let (zero, one, half) = (T::zero(), T::one(), T::from_f(0.5));
        match self {
            Act::Relu => {
                if v > zero {
                    one
                } else {
                    zero
                }
            }
            Act::Sigmoid => v * (one - v),
            Act::Tanh => one - v * v,
            Act::Softrelu => zero - (zero - v).exp_m1(),
            Act::Softsign => {
                let a = one - <T as Num>::abs(v);
                a * a
            }
            Act::LogSigmoid => zero - v.exp_m1(),
            Act::Mish => {
                let t = softplus(v).tanh();
                t + v * (one - t * t) * v.sigmoid()
            }
            Act::Silu => {
                let s = v.sigmoid();
                s * (one + v * (one - s))
            }
            Act::Gelu => {
                let cdf = half * (one + T::from_f(erf(v.f() * std::f64::consts::FRAC_1_SQRT_2)));
                cdf + v * gelu_pdf(v)
            }
            Act::GeluTanh => {
                let (t, du, _) = gelu_tanh_parts(v);
                half * (one + t) + half * v * (one - t * t) * du
            }
        }
    }

    /// The derivative of `d1` with respect to its argument.
    #[inline(always)]
    pub fn d2<T: Real>(self, v: T) -> T {
        let (zero, one, two, half) = (T::zero(), T::one(), T::from_f(2.0), T::from_f(0.5));
        match self {
            Act::Relu => zero,
            Act::Sigmoid => one - two * v,
            Act::Tanh => zero - two * v,
            Act::Softrelu => (zero - v).exp(),
            Act::Softsign => zero - two * <T as Num>::sign(v) * (one - <T as Num>::abs(v)),
            Act::LogSigmoid => zero - v.exp(),
            Act::Mish => {
                let (t, s) = (softplus(v).tanh(), v.sigmoid());
                (one - t * t) * s * (two + v * (one - s - two * t * s))
            }
            Act::Silu => {
                let s = v.sigmoid();
                s * (one - s) * (two + v * (one - two * s))
            }
            Act::Gelu => gelu_pdf(v) * (two - v * v),
            Act::GeluTanh => {
                let (t, du, ddu) = gelu_tanh_parts(v);
                (one - t * t) * (du + half * v * (ddu - two * t * du * du))
            }
        }
    }
}

/// exp(-v^2 / 2) / sqrt(2 pi)
#[inline(always)]
fn gelu_pdf<T: Real>(v: T) -> T {
    T::from_f(0.5 * SQRT_2_OVER_PI) * (T::from_f(-0.5) * v * v).exp()
}

/// tanh(u), u' and u'' for u = k (v + c v^3).
#[inline(always)]
fn gelu_tanh_parts<T: Real>(v: T) -> (T, T, T) {
    let (k, c) = (T::from_f(SQRT_2_OVER_PI), T::from_f(GELU_C));
    let t = (k * (v + c * v * v * v)).tanh();
    let du = k * (T::one() + T::from_f(3.0) * c * v * v);
    let ddu = T::from_f(6.0) * k * c * v;
    (t, du, ddu)
}

/// An activation's output dtype: floats keep theirs, integers give float32.
fn act_out_dtype(d: DType) -> DType {
    if d.is_float() {
        d
    } else {
        DType::F32
    }
}

/// `f(x)` elementwise into a new tensor of `x`'s shape (float output), not recorded.
pub fn act_map(act: Act, x: &Tensor) -> Result<Tensor> {
    let out = act_out_dtype(x.dtype());
    let ct = compute_dtype(out);
    let xc = x.cast_to(ct)?;
    let st = xc.storage()?;
    let c = st.cpu("Activation")?;
    let data = with_const_act!(act, A => if ct == DType::F64 {
        f64::wrap(cpu::map_view(f64::slice(c), xc.layout(), |v| A.f(v)))
    } else {
        f32::wrap(cpu::map_view(f32::slice(c), xc.layout(), |v| A.f(v)))
    });
    Tensor::from_cpu(data, x.shape())?.cast_to(out)
}

/// MXNet's `Activation(data, act_type)`.
pub struct Activation(pub Act);

impl Op for Activation {
    fn activation(&self) -> Option<Act> {
        Some(self.0)
    }
    fn name(&self) -> &'static str {
        "activation"
    }
    fn mxnet_name(&self) -> &'static str {
        "Activation"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("act_type", Attr::Str(self.0.name().into()))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(
            i[0].shape.clone(),
            act_out_dtype(i[0].dtype),
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(vec![act_map(self.0, &x[0])?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let x = ctx.input(0);
        let v = if self.0.from_output() {
            ctx.output(0)?
        } else {
            x.clone()
        };
        let dx = act_grad(self.0, &g, &v)?;
        Ok(vec![Some(if x.dtype().is_float() {
            dx.cast(x.dtype())?
        } else {
            dx
        })])
    }
}

/// `g * f'(v)` (recorded): the gradient through an activation, `v` its output or input as
/// `Act::from_output` says.
pub fn act_grad(act: Act, g: &Tensor, v: &Tensor) -> Result<Tensor> {
    apply1(Arc::new(ActGrad { act, order: 1 }), &[g, v])
}

/// `g * f'(v)` (order 1) or `g * f''(v)` (order 2) in one pass; `_backward_Activation`.
pub struct ActGrad {
    pub act: Act,
    pub order: u8,
}

impl Op for ActGrad {
    fn name(&self) -> &'static str {
        "_backward_Activation"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("act_type", Attr::Str(self.act.name().into()))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        if i.len() != 2 || i[0].shape != i[1].shape {
            return Err(Error::shape(
                "_backward_Activation",
                format!("expected a gradient and a value of one shape, got {i:?}"),
            ));
        }
        Ok(vec![Meta::new(
            i[0].shape.clone(),
            act_out_dtype(i[0].dtype),
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let m = self.infer(&[Meta::of(&x[0]), Meta::of(&x[1])])?.remove(0);
        let ct = compute_dtype(m.dtype);
        let (act, order) = (self.act, self.order);
        let y = run_real!(
            "_backward_Activation",
            [&x[0], &x[1]],
            ct,
            &m.shape,
            m.dtype,
            |s, o| {
                let (g, v) = (s[0], s[1]);
                with_const_act!(act, A => {
                    let f = |(o, (&g, &v)): (&mut _, (&_, &_))| {
                        *o = g * if order == 1 { A.d1(v) } else { A.d2(v) }
                    };
                    if cpu::parallel(o.len()) {
                        o.par_iter_mut()
                            .zip(g.par_iter().zip(v.par_iter()))
                            .with_min_len(4096)
                            .for_each(f);
                    } else {
                        o.iter_mut().zip(g.iter().zip(v.iter())).for_each(f);
                    }
                })
            }
        );
        Ok(vec![y])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        if self.order >= 2 {
            return Err(Error::Unsupported(format!(
                "third-order gradients of Activation {} are not supported",
                self.act.name()
            )));
        }
        let h = g[0].clone().expect("single output");
        let (gin, v) = (ctx.input(0), ctx.input(1));
        let dg = act_grad(self.act, &h, v)?;
        let second = Arc::new(ActGrad {
            act: self.act,
            order: 2,
        });
        let dv = apply1(second, &[&h.mul(gin)?, v])?;
        Ok(vec![Some(dg), Some(dv.cast(v.dtype())?)])
    }
}

// ---------------------------------------------------------------------------------------------
// LeakyReLU

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaky {
    Leaky,
    Prelu,
    Elu,
    Selu,
    Gelu,
    GeluTanh,
}

const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_C: f64 = 0.044715;

impl Leaky {
    fn name(self) -> &'static str {
        match self {
            Leaky::Leaky => "leaky",
            Leaky::Prelu => "prelu",
            Leaky::Elu => "elu",
            Leaky::Selu => "selu",
            Leaky::Gelu => "gelu",
            Leaky::GeluTanh => "gelu_tanh",
        }
    }
    fn from_name(s: &str) -> Result<Leaky> {
        Ok(match s {
            "leaky" => Leaky::Leaky,
            "prelu" => Leaky::Prelu,
            "elu" => Leaky::Elu,
            "selu" => Leaky::Selu,
            "gelu" | "gelu_erf" => Leaky::Gelu,
            "gelu_tanh" => Leaky::GeluTanh,
            _ => {
                return Err(Error::value(
                    "LeakyReLU",
                    format!(
                        "act_type {s:?} is not supported (expected leaky, prelu, elu, selu, gelu or gelu_tanh)"
                    ),
                ))
            }
        })
    }
}

/// `LeakyReLU(data, gamma=None, act_type='leaky', slope=0.25)`.
pub struct LeakyRelu {
    pub act: Leaky,
    pub slope: f64,
}

impl LeakyRelu {
    /// gamma (prelu) broadcast against data: a single value, or one per channel (axis 1).
    fn gamma_view(&self, x: &Tensor, gamma: &Tensor) -> Result<Tensor> {
        let gs = gamma.shape();
        let n = gamma.numel();
        if n == 1 {
            return gamma.reshape(&[]);
        }
        if gs.len() == 1 && x.ndim() >= 2 && x.shape()[1] == n {
            let mut s = vec![1; x.ndim() - 1];
            s[0] = n;
            return gamma.reshape(&s);
        }
        if matches!(
            broadcast_shapes("LeakyReLU", x.shape(), gs).map(|s| &s == x.shape()),
            Ok(true)
        ) {
            return Ok(gamma.clone());
        }
        Err(Error::shape(
            "LeakyReLU",
            format!(
                "prelu gamma of shape {gs:?} fits neither one value nor one per channel of data {:?}",
                x.shape()
            ),
        ))
    }
}

impl Op for LeakyRelu {
    fn name(&self) -> &'static str {
        "leaky_relu"
    }
    fn mxnet_name(&self) -> &'static str {
        "LeakyReLU"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("act_type", Attr::Str(self.act.name().into()))
            .with("slope", Attr::Float(self.slope))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let want = if self.act == Leaky::Prelu { 2 } else { 1 };
        if i.len() != want {
            return Err(Error::value(
                "LeakyReLU",
                format!(
                    "act_type {} takes {want} input(s), got {}",
                    self.act.name(),
                    i.len()
                ),
            ));
        }
        let d = i[0].dtype;
        Ok(vec![Meta::new(
            i[0].shape.clone(),
            if d.is_float() { d } else { DType::F32 },
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let out = self.infer(&metas)?.swap_remove(0);
        let ct = compute_dtype(out.dtype);
        let shape = out.shape.clone();
        let slope = self.slope;
        let act = self.act;
        if act == Leaky::Prelu {
            let gv = self.gamma_view(&x[0], &x[1])?;
            let (xc, gc) = (x[0].cast_to(ct)?, gv.cast_to(ct)?);
            let (sx, sg) = (xc.storage()?, gc.storage()?);
            let data = crate::with_float_dtype!(
                ct,
                T,
                {
                    let zero = <T as crate::Element>::zero();
                    T::wrap(cpu::zip_view(
                        T::slice(sx.cpu("LeakyReLU")?),
                        xc.layout(),
                        T::slice(sg.cpu("LeakyReLU")?),
                        gc.layout(),
                        &shape,
                        |v: T, a: T| if v > zero { v } else { v * a },
                    ))
                },
                unreachable!("compute dtype is a float")
            );
            let t = Tensor::from_cpu(data, &shape)?;
            return Ok(vec![t.cast_to(out.dtype)?]);
        }
        fn f<T: Real>(act: Leaky, slope: f64) -> impl Fn(T) -> T + Sync + Send {
            let zero = T::zero();
            let one = T::one();
            let half = T::from_f(0.5);
            let s = T::from_f(slope);
            let (lam, alpha) = (T::from_f(SELU_LAMBDA), T::from_f(SELU_ALPHA));
            let (k, c) = (T::from_f(SQRT_2_OVER_PI), T::from_f(GELU_C));
            move |v: T| match act {
                Leaky::Leaky => {
                    if v > zero {
                        v
                    } else {
                        v * s
                    }
                }
                Leaky::Elu => {
                    if v > zero {
                        v
                    } else {
                        s * v.exp_m1()
                    }
                }
                Leaky::Selu => lam * if v > zero { v } else { alpha * v.exp_m1() },
                Leaky::Gelu => {
                    half * v * (one + T::from_f(erf(v.f() * std::f64::consts::FRAC_1_SQRT_2)))
                }
                Leaky::GeluTanh => half * v * (one + (k * (v + c * v * v * v)).tanh()),
                Leaky::Prelu => unreachable!("handled above"),
            }
        }
        let xc = x[0].cast_to(ct)?;
        let st = xc.storage()?;
        let c = st.cpu("LeakyReLU")?;
        let data = if ct == DType::F64 {
            f64::wrap(cpu::map_view(
                f64::slice(c),
                xc.layout(),
                f::<f64>(act, slope),
            ))
        } else {
            f32::wrap(cpu::map_view(
                f32::slice(c),
                xc.layout(),
                f::<f32>(act, slope),
            ))
        };
        let t = Tensor::from_cpu(data, &shape)?;
        Ok(vec![t.cast_to(out.dtype)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let x0 = ctx.input(0);
        let x = x0.cast(g.dtype())?;
        let s = |t: &Tensor, op: Bin, v: f64| t.scalar_op(op, v, false);
        // mask: 1 where x > 0; neg = 1 - mask
        let mask = s(&x, Bin::Gt, 0.0)?.cast(g.dtype())?;
        let neg = mask.scalar_op(Bin::Sub, 1.0, true)?;
        let mut gamma_grad = None;
        let d = match self.act {
            Leaky::Leaky => s(&s(&mask, Bin::Mul, 1.0 - self.slope)?, Bin::Add, self.slope)?,
            Leaky::Elu => mask.add(&s(&neg.mul(&x.unary(Un::Exp)?)?, Bin::Mul, self.slope)?)?,
            Leaky::Selu => s(
                &mask.add(&s(&neg.mul(&x.unary(Un::Exp)?)?, Bin::Mul, SELU_ALPHA)?)?,
                Bin::Mul,
                SELU_LAMBDA,
            )?,
            Leaky::Gelu => {
                // 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi)
                let cdf = s(
                    &s(&x, Bin::Mul, std::f64::consts::FRAC_1_SQRT_2)?.unary(Un::Erf)?,
                    Bin::Add,
                    1.0,
                )?;
                let pdf = s(&x.mul(&x)?, Bin::Mul, -0.5)?.unary(Un::Exp)?;
                s(&cdf, Bin::Mul, 0.5)?.add(&s(&x.mul(&pdf)?, Bin::Mul, 0.5 * SQRT_2_OVER_PI)?)?
            }
            Leaky::GeluTanh => {
                // u = k (x + c x^3); 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) k (1 + 3 c x^2)
                let x2 = x.mul(&x)?;
                let u = s(
                    &x.add(&s(&x2.mul(&x)?, Bin::Mul, GELU_C)?)?,
                    Bin::Mul,
                    SQRT_2_OVER_PI,
                )?;
                let th = u.unary(Un::Tanh)?;
                let a = s(&s(&th, Bin::Add, 1.0)?, Bin::Mul, 0.5)?;
                let sech2 = th.mul(&th)?.scalar_op(Bin::Sub, 1.0, true)?;
                let du = s(&s(&x2, Bin::Mul, 3.0 * GELU_C)?, Bin::Add, 1.0)?;
                a.add(&s(
                    &x.mul(&sech2)?.mul(&du)?,
                    Bin::Mul,
                    0.5 * SQRT_2_OVER_PI,
                )?)?
            }
            Leaky::Prelu => {
                let gamma = ctx.input(1);
                let gv = self.gamma_view(x0, gamma)?.cast(g.dtype())?;
                let gg = unbroadcast(g.mul(&neg)?.mul(&x)?, gv.shape())?
                    .reshape(gamma.shape())?
                    .cast(gamma.dtype())?;
                gamma_grad = Some(gg);
                mask.add(&neg.mul(&gv)?)?
            }
        };
        let gx = g.mul(&d)?;
        let gx = if x0.dtype().is_float() {
            gx.cast(x0.dtype())?
        } else {
            gx
        };
        let mut out = vec![Some(gx)];
        if self.act == Leaky::Prelu {
            out.push(gamma_grad);
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Registry

fn softmax_builder(a: &Attrs, log: bool) -> Result<Arc<dyn Op>> {
    let op = if log { "log_softmax" } else { "softmax" };
    Ok(Arc::new(Softmax {
        log,
        axis: a.int(op, "axis", -1)?,
        temperature: a.opt_float(op, "temperature")?,
        use_length: a.bool(op, "use_length", false)?,
        dtype: a.opt_dtype(op, "dtype")?,
    }))
}

fn leaky_builder(a: &Attrs) -> Result<Arc<dyn Op>> {
    let act = Leaky::from_name(&a.str("act_type", "leaky"))?;
    Ok(Arc::new(LeakyRelu {
        act,
        slope: a.float("LeakyReLU", "slope", 0.25)?,
    }))
}

pub fn register(r: &mut Registry) {
    r.insert("softmax", |a| softmax_builder(a, false));
    r.insert("_npx_softmax", |a| softmax_builder(a, false));
    r.insert("log_softmax", |a| softmax_builder(a, true));
    r.insert("_npx_log_softmax", |a| softmax_builder(a, true));
    r.insert("_backward_softmax", |a| {
        Ok(Arc::new(SoftmaxGrad(Softmax {
            log: false,
            axis: a.int("softmax", "axis", -1)?,
            temperature: a.opt_float("softmax", "temperature")?,
            use_length: a.bool("softmax", "use_length", false)?,
            dtype: None,
        })))
    });
    r.insert("_backward_log_softmax", |a| {
        Ok(Arc::new(SoftmaxGrad(Softmax {
            log: true,
            axis: a.int("log_softmax", "axis", -1)?,
            temperature: a.opt_float("log_softmax", "temperature")?,
            use_length: a.bool("log_softmax", "use_length", false)?,
            dtype: None,
        })))
    });
    fn act(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(Activation(Act::from_name(
            "Activation",
            &a.str("act_type", "relu"),
        )?)))
    }
    r.insert("activation", act);
    r.insert("Activation", act);
    r.insert("_npx_activation", act);
    r.insert("leaky_relu", leaky_builder);
    r.insert("LeakyReLU", leaky_builder);
    r.insert("_npx_leaky_relu", leaky_builder);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::invoke;

    #[test]
    fn softmax_rows_sum_to_one_and_mask() {
        let x = Tensor::from_vec(vec![1f32, 2.0, 3.0, 1000.0, 0.0, -1000.0], &[2, 3]).unwrap();
        let y = invoke("softmax", &[&x], &Attrs::new()).unwrap().remove(0);
        let v = y.to_vec::<f32>().unwrap();
        assert!((v[0] + v[1] + v[2] - 1.0).abs() < 1e-6);
        assert!((v[3] - 1.0).abs() < 1e-6 && v[5] == 0.0);
        let len = Tensor::from_vec(vec![2i64, 1], &[2]).unwrap();
        let a = Attrs::new().with("use_length", Attr::Bool(true));
        let y = invoke("softmax", &[&x, &len], &a).unwrap().remove(0);
        let v = y.to_vec::<f32>().unwrap();
        assert_eq!(v[2], 0.0);
        assert_eq!(&v[3..], &[1.0, 0.0, 0.0]);
        // axis 0 goes through the strided path
        let a = Attrs::new().with("axis", Attr::Int(0));
        let y = invoke("log_softmax", &[&x], &a).unwrap().remove(0);
        let v = y.to_vec::<f32>().unwrap();
        assert!((v[0].exp() + v[3].exp() - 1.0).abs() < 1e-6);
    }
}
