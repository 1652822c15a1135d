//! Reductions over axes (sum, mean, prod, max, min, all, any, argmax, argmin, var, std) and the
//! cumulative sum. Kernels fold an (outer, n, inner) block of a contiguous slice: rows when the
//! reduced axes are last, columns when they are first, and gather through a permutation otherwise.
use super::elementwise::Bin;
use super::{apply1, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::backend::cpu::{self, num::Num};
use crate::layout::{norm_axis, Layout};
use crate::storage::{CpuElement, CpuStorage};
use crate::{with_compute_dtype, DType, Element, Error, Result, Tensor};
use rayon::prelude::*;
use std::sync::Arc;
/// Normalised, sorted, de-duplicated reduction axes (`None`: all).
pub fn reduce_axes(op: &str, axes: Option<&[i64]>, ndim: usize) -> Result<Vec<usize>> {
    let mut v: Vec<usize> = match axes {
        None => (0..ndim).collect(),
        Some(a) => a
            .iter()
            .map(|&x| norm_axis(op, x as isize, ndim))
            .collect::<Result<_>>()?,
    };
    v.sort_unstable();
    let n = v.len();
    v.dedup();
    if v.len() != n {
        return Err(Error::value(op, "duplicate value in 'axis'"));
    }
    Ok(v)
}

/// The output shape of a reduction.
pub fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| {
            if axes.contains(&i) {
                keepdims.then_some(1)
            } else {
                Some(d)
            }
        })
        .collect()
}

/// Calls `f(row)` for each output element with the contiguous run of elements it reduces over
/// (reduced axes moved last), in output order, in parallel when large.
pub fn for_each_group<T: Copy + Send + Sync, R: Send, F>(
    data: &[T],
    l: &Layout,
    axes: &[usize],
    f: F,
) -> Vec<R>
where
    F: Fn(&[T]) -> R + Sync + Send,
{
    let kept: Vec<usize> = (0..l.ndim()).filter(|i| !axes.contains(i)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes.iter()).cloned().collect();
    let pl = l.permute("reduce", &perm).expect("a permutation");
    let inner: usize = axes.iter().map(|&a| l.shape[a]).product();
    let outer: usize = kept.iter().map(|&a| l.shape[a]).product();
    if inner == 0 {
        return (0..outer).map(|_| f(&[])).collect();
    }
    cpu::with_contiguous(data, &pl, |c| {
        if cpu::parallel(c.len()) && outer > 1 {
            c.par_chunks(inner).map(&f).collect()
        } else {
            c.chunks(inner).map(&f).collect()
        }
    })
}

/// Elements per task when one long row is split across threads.
const ROW_CHUNK: usize = 1 << 16;

/// Folds a slice with `f` in 16 independent lanes, so that it vectorises (and, for float sums,
/// rounds more like a pairwise sum than a running total).
#[inline(always)]
fn fold_lanes<T: Copy, F: Fn(T, T) -> T>(s: &[T], init: T, f: F) -> T {
    let mut acc = [init; 16];
    let chunks = s.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..16 {
            acc[i] = f(acc[i], c[i]);
        }
    }
    let mut t = init;
    for a in acc {
        t = f(t, a);
    }
    for &v in rest {
        t = f(t, v);
    }
    t
}

fn sum_lanes<T: Copy + Default + std::ops::Add<Output = T>>(s: &[T]) -> T {
    fold_lanes(s, T::default(), |a, b| a + b)
}

/// NaN-propagating maximum and minimum written as selects (no branches), so that lanes vectorise.
#[inline(always)]
#[allow(clippy::eq_op)]
fn max_step<T: PartialOrd + Copy>(a: T, b: T) -> T {
    if (b > a) | (b != b) {
        b
    } else {
        a
    }
}
#[inline(always)]
#[allow(clippy::eq_op)]
fn min_step<T: PartialOrd + Copy>(a: T, b: T) -> T {
    if (b < a) | (b != b) {
        b
    } else {
        a
    }
}

/// Folds a row pairwise over blocks of 4096 (so float sums stay accurate), the halves of long rows
/// in parallel when `par`.
fn tree_fold<T, A, R, C>(r: &[T], row: &R, combine: &C, par: bool) -> A
where
    T: Copy + Send + Sync,
    A: Copy + Send + Sync,
    C: Fn(A, A) -> A + Sync + Send,
    R: Fn(&[T]) -> A + Sync + Send,
{
    if r.len() <= 4096 {
        return row(r);
    }
    let (a, b) = r.split_at((r.len() / 2).next_multiple_of(16).min(r.len()));
    if par && r.len() > ROW_CHUNK {
        let (x, y) = rayon::join(
            || tree_fold(a, row, combine, par),
            || tree_fold(b, row, combine, par),
        );
        combine(x, y)
    } else {
        combine(
            tree_fold(a, row, combine, false),
            tree_fold(b, row, combine, false),
        )
    }
}

/// Folds `c`, read as an (outer, n, inner) block, over its middle dimension: `outer * inner`
/// results in row-major order. `row` folds a contiguous run (used when `inner == 1`), `step` adds
/// one element to an accumulator and `combine` merges two partial results.
#[allow(clippy::too_many_arguments)]
fn fold_block<T, A, S, C, R>(
    c: &[T],
    outer: usize,
    n: usize,
    inner: usize,
    init: A,
    step: &S,
    combine: &C,
    row: &R,
) -> Vec<A>
where
    T: Copy + Send + Sync,
    A: Copy + Send + Sync,
    S: Fn(A, T) -> A + Sync + Send,
    C: Fn(A, A) -> A + Sync + Send,
    R: Fn(&[T]) -> A + Sync + Send,
{
    let total = outer * n * inner;
    if outer * inner == 0 {
        return Vec::new();
    }
    if n == 0 {
        return vec![init; outer * inner];
    }
    let par = cpu::parallel(total);
    let threads = cpu::num_threads();
    if inner == 1 {
        let tree = |r: &[T]| tree_fold(r, row, combine, false);
        if !par {
            return c.chunks(n).map(tree).collect();
        }
        if outer >= 4 * threads {
            return c
                .par_chunks(n)
                .with_min_len((4096 / n).max(1))
                .map(tree)
                .collect();
        }
        // A few long rows: split each one.
        return c
            .chunks(n)
            .map(|r| tree_fold(r, row, combine, true))
            .collect();
    }
    // Columns: out[o, j] folds x[o, i, j] over i, a whole row of j at a time (vectorises).
    let cols = |o: usize, j0: usize, j1: usize, i0: usize, i1: usize| -> Vec<A> {
        let mut acc = vec![init; j1 - j0];
        let base = o * n * inner;
        for i in i0..i1 {
            let r = &c[base + i * inner + j0..base + i * inner + j1];
            for (a, &v) in acc.iter_mut().zip(r) {
                *a = step(*a, v);
            }
        }
        acc
    };
    if !par {
        return (0..outer).flat_map(|o| cols(o, 0, inner, 0, n)).collect();
    }
    if outer * inner <= 4096 && n >= 4 * threads {
        // Small output, many rows: partial results over blocks of rows, then merged.
        let blocks = 4 * threads;
        let per = n.div_ceil(blocks);
        return (0..blocks)
            .into_par_iter()
            .map(|b| {
                let (i0, i1) = ((b * per).min(n), ((b + 1) * per).min(n));
                (0..outer)
                    .flat_map(|o| cols(o, 0, inner, i0, i1))
                    .collect::<Vec<A>>()
            })
            .reduce(
                || vec![init; outer * inner],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x = combine(*x, y);
                    }
                    a
                },
            );
    }
    // Tiles of columns, each over all rows.
    let cw = inner.div_ceil(4 * threads).clamp(256, inner.max(256));
    let nchunks = inner.div_ceil(cw);
    (0..outer * nchunks)
        .into_par_iter()
        .map(|t| {
            let (o, k) = (t / nchunks, t % nchunks);
            cols(o, k * cw, ((k + 1) * cw).min(inner), 0, n)
        })
        .collect::<Vec<Vec<A>>>()
        .concat()
}

/// Folds a view over `axes` (normalised, sorted): one result per kept position, in row-major order.
/// Contiguous views reduced over a run of adjacent axes are read in place; others are gathered.
pub fn fold_axes<T, A, S, C, R>(
    data: &[T],
    l: &Layout,
    axes: &[usize],
    init: A,
    step: S,
    combine: C,
    row: R,
) -> Vec<A>
where
    T: Copy + Send + Sync,
    A: Copy + Send + Sync,
    S: Fn(A, T) -> A + Sync + Send,
    C: Fn(A, A) -> A + Sync + Send,
    R: Fn(&[T]) -> A + Sync + Send,
{
    let shape = &l.shape;
    let n: usize = axes.iter().map(|&a| shape[a]).product();
    let kept: Vec<usize> = (0..l.ndim()).filter(|i| !axes.contains(i)).collect();
    let out_len: usize = kept.iter().map(|&a| shape[a]).product();
    if n == 0 || out_len == 0 {
        return vec![init; out_len];
    }
    let total = l.numel();
    let run = axes.windows(2).all(|w| w[1] == w[0] + 1);
    if l.is_contiguous() && run {
        let (outer, inner) = match (axes.first(), axes.last()) {
            (Some(&a), Some(&b)) => (
                shape[..a].iter().product::<usize>(),
                shape[b + 1..].iter().product::<usize>(),
            ),
            _ => (total, 1),
        };
        let c = &data[l.offset..l.offset + total];
        return fold_block(c, outer, n, inner, init, &step, &combine, &row);
    }
    if l.is_contiguous() && axes.last() == Some(&(l.ndim() - 1)) {
        // A run of reduced axes at the end ((N, C, H, W) over (0, 2, 3)): fold that run in place,
        // then the other reduced axes over the partial results (`init` is `combine`'s identity).
        let lead = axes.len()
            - axes
                .iter()
                .rev()
                .zip((0..l.ndim()).rev())
                .take_while(|(&a, b)| a == *b)
                .count();
        let b = axes[lead];
        let tail: usize = shape[b..].iter().product();
        let c = &data[l.offset..l.offset + total];
        let part = fold_block(c, total / tail, tail, 1, init, &step, &combine, &row);
        return gather_fold(
            &part,
            &Layout::contiguous(&shape[..b]),
            &kept,
            &axes[..lead],
            init,
            &combine,
            &combine,
            &|r: &[A]| r.iter().fold(init, |a, &v| combine(a, v)),
        );
    }
    gather_fold(data, l, &kept, axes, init, &step, &combine, &row)
}

/// Folds `axes` of a view by gathering it with the `kept` axes first.
#[allow(clippy::too_many_arguments)]
fn gather_fold<T, A, S, C, R>(
    data: &[T],
    l: &Layout,
    kept: &[usize],
    axes: &[usize],
    init: A,
    step: &S,
    combine: &C,
    row: &R,
) -> Vec<A>
where
    T: Copy + Send + Sync,
    A: Copy + Send + Sync,
    S: Fn(A, T) -> A + Sync + Send,
    C: Fn(A, A) -> A + Sync + Send,
    R: Fn(&[T]) -> A + Sync + Send,
{
    let n: usize = axes.iter().map(|&a| l.shape[a]).product();
    let perm: Vec<usize> = kept.iter().chain(axes.iter()).cloned().collect();
    let pl = l.permute("reduce", &perm).expect("a permutation");
    cpu::with_contiguous(data, &pl, |c| {
        fold_block(c, l.numel() / n, n, 1, init, step, combine, row)
    })
}

fn half_err(op: &str) -> Error {
    Error::Unsupported(format!("{op}: half floats are computed as float32"))
}

fn sum_storage(x: &Tensor, axes: &[usize], out: DType) -> Result<CpuStorage> {
    let xc = x.cast_to(out)?;
    let st = xc.storage()?;
    let c = st.cpu("sum")?;
    let l = xc.layout();
    macro_rules! int_sum {
        ($t:ty, $v:ident) => {
            CpuStorage::$v(fold_axes(
                <$t>::slice(c),
                l,
                axes,
                0 as $t,
                |a: $t, b: $t| a.wrapping_add(b),
                |a: $t, b: $t| a.wrapping_add(b),
                |r: &[$t]| fold_lanes(r, 0 as $t, |a: $t, b: $t| a.wrapping_add(b)),
            ))
        };
    }
    Ok(match out {
        DType::F32 => CpuStorage::F32(fold_axes(
            f32::slice(c),
            l,
            axes,
            0f32,
            |a, b| a + b,
            |a, b| a + b,
            sum_lanes,
        )),
        DType::F64 => CpuStorage::F64(fold_axes(
            f64::slice(c),
            l,
            axes,
            0f64,
            |a, b| a + b,
            |a, b| a + b,
            sum_lanes,
        )),
        DType::I64 => int_sum!(i64, I64),
        DType::I32 => int_sum!(i32, I32),
        DType::U8 => int_sum!(u8, U8),
        DType::I8 => int_sum!(i8, I8),
        DType::Bool => CpuStorage::Bool(fold_axes(
            bool::slice(c),
            l,
            axes,
            false,
            |a, b| a | b,
            |a, b| a | b,
            |r: &[bool]| fold_lanes(r, false, |a, b| a | b),
        )),
        d => return Err(Error::unsupported_dtype("sum", d)),
    })
}

/// NumPy's accumulator type for sums: small integers and booleans sum as int64.
pub fn sum_dtype(x: DType) -> DType {
    match x {
        DType::Bool | DType::U8 | DType::I8 | DType::I32 => DType::I64,
        d => d,
    }
}

fn axes_attr(axes: &Option<Vec<i64>>) -> Attr {
    axes.as_ref().map_or(Attr::None, |a| Attr::Ints(a.clone()))
}

fn isize_axes(axes: &[usize]) -> Vec<isize> {
    axes.iter().map(|&a| a as isize).collect()
}

/// `sum(x, axis, keepdims, dtype)`.
pub struct Sum {
    pub axes: Option<Vec<i64>>,
    pub keepdims: bool,
    pub dtype: Option<DType>,
}

impl Op for Sum {
    fn name(&self) -> &'static str {
        "sum"
    }
    fn attrs(&self) -> Attrs {
        let a = Attrs::new()
            .with("axis", axes_attr(&self.axes))
            .with("keepdims", Attr::Bool(self.keepdims));
        match self.dtype {
            Some(d) => a.with("dtype", Attr::Str(d.name().into())),
            None => a,
        }
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let axes = reduce_axes("sum", self.axes.as_deref(), i[0].shape.len())?;
        Ok(vec![Meta::new(
            reduced_shape(&i[0].shape, &axes, self.keepdims),
            self.dtype.unwrap_or(sum_dtype(i[0].dtype)),
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let m = self.infer(&[Meta::of(&x[0])])?.swap_remove(0);
        let axes = reduce_axes("sum", self.axes.as_deref(), x[0].ndim())?;
        // Half floats accumulate in float32.
        let work = m.dtype.compute_dtype();
        let data = sum_storage(&x[0], &axes, work)?;
        let t = Tensor::from_cpu(data, &m.shape)?;
        Ok(vec![t.cast_to(m.dtype)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let x = ctx.input(0);
        let axes = reduce_axes("sum", self.axes.as_deref(), x.ndim())?;
        let kept = g.reshape(&reduced_shape(x.shape(), &axes, true))?;
        Ok(vec![Some(kept.broadcast_to(x.shape())?.cast(x.dtype())?)])
    }
}

/// The reductions that share `Sum`'s arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedKind {
    Mean,
    Prod,
    Max,
    Min,
    All,
    Any,
}

impl RedKind {
    pub fn name(self) -> &'static str {
        match self {
            RedKind::Mean => "mean",
            RedKind::Prod => "prod",
            RedKind::Max => "max",
            RedKind::Min => "min",
            RedKind::All => "all",
            RedKind::Any => "any",
        }
    }
    pub fn mxnet_name(self) -> &'static str {
        match self {
            RedKind::Mean => "mean",
            RedKind::Prod => "prod",
            RedKind::Max => "max",
            RedKind::Min => "min",
            RedKind::All => "_np_all",
            RedKind::Any => "_np_any",
        }
    }
}

/// `mean`, `prod`, `max`/`amax`, `min`/`amin`, `all`, `any` over axes. The gradient of `max` and
/// `min` is split evenly between tied extreme elements.
pub struct Reduce {
    pub kind: RedKind,
    pub axes: Option<Vec<i64>>,
    pub keepdims: bool,
    pub dtype: Option<DType>,
}

/// The smallest value of a type (`max`'s starting point) and the largest.
fn lowest<T: Element>() -> T {
    if T::DTYPE == DType::Bool {
        T::zero()
    } else {
        T::from_f64(f64::NEG_INFINITY)
    }
}
fn highest<T: Element>() -> T {
    if T::DTYPE == DType::Bool {
        T::one()
    } else {
        T::from_f64(f64::INFINITY)
    }
}

fn fold_num<T: Num>(x: &Tensor, axes: &[usize], op: RedKind) -> Result<CpuStorage> {
    let st = x.storage()?;
    let c = T::slice(st.cpu(op.name())?);
    let l = x.layout();
    macro_rules! go {
        ($init:expr, $f:expr) => {{
            let init: T = $init;
            T::wrap(fold_axes(c, l, axes, init, $f, $f, |r: &[T]| {
                fold_lanes(r, init, $f)
            }))
        }};
    }
    Ok(match op {
        RedKind::Max => go!(lowest::<T>(), max_step::<T>),
        RedKind::Min => go!(highest::<T>(), min_step::<T>),
        _ => go!(T::one(), <T as Num>::mul),
    })
}

impl Reduce {
    fn out_dtype(&self, x: DType) -> DType {
        match self.kind {
            RedKind::Mean => self
                .dtype
                .unwrap_or(if x.is_float() { x } else { DType::F32 }),
            RedKind::Prod => self.dtype.unwrap_or(sum_dtype(x)),
            RedKind::Max | RedKind::Min => x,
            RedKind::All | RedKind::Any => DType::Bool,
        }
    }
    fn keep(&self, kind: RedKind, axes: &[usize], x: &Tensor) -> Result<Tensor> {
        apply1(
            Arc::new(Reduce {
                kind,
                axes: Some(axes.iter().map(|&a| a as i64).collect()),
                keepdims: true,
                dtype: None,
            }),
            &[x],
        )
    }
}

impl Op for Reduce {
    fn name(&self) -> &'static str {
        self.kind.name()
    }
    fn mxnet_name(&self) -> &'static str {
        self.kind.mxnet_name()
    }
    fn attrs(&self) -> Attrs {
        let a = Attrs::new()
            .with("axis", axes_attr(&self.axes))
            .with("keepdims", Attr::Bool(self.keepdims));
        match self.dtype {
            Some(d) => a.with("dtype", Attr::Str(d.name().into())),
            None => a,
        }
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let axes = reduce_axes(self.name(), self.axes.as_deref(), i[0].shape.len())?;
        Ok(vec![Meta::new(
            reduced_shape(&i[0].shape, &axes, self.keepdims),
            self.out_dtype(i[0].dtype),
        )])
    }
    fn differentiable(&self) -> bool {
        !matches!(self.kind, RedKind::All | RedKind::Any)
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let name = self.name();
        let x = &x[0];
        let m = self.infer(&[Meta::of(x)])?.swap_remove(0);
        let axes = reduce_axes(name, self.axes.as_deref(), x.ndim())?;
        let n: usize = axes.iter().map(|&a| x.shape()[a]).product();
        let data = match self.kind {
            RedKind::Max | RedKind::Min => {
                if n == 0 {
                    let what = if self.kind == RedKind::Max {
                        "maximum"
                    } else {
                        "minimum"
                    };
                    return Err(Error::value(
                        name,
                        format!(
                            "zero-size array to reduction operation {what} which has no identity \
                             (shape {:?}, axis {:?})",
                            x.shape(),
                            axes
                        ),
                    ));
                }
                let xc = x.cast_to(x.dtype().compute_dtype())?;
                with_compute_dtype!(
                    xc.dtype(),
                    T,
                    fold_num::<T>(&xc, &axes, self.kind)?,
                    return Err(half_err(name))
                )
            }
            RedKind::Prod => {
                let xc = x.cast_to(m.dtype.compute_dtype())?;
                with_compute_dtype!(
                    xc.dtype(),
                    T,
                    fold_num::<T>(&xc, &axes, RedKind::Prod)?,
                    return Err(half_err(name))
                )
            }
            RedKind::All | RedKind::Any => {
                let xc = x.cast_to(DType::Bool)?;
                let st = xc.storage()?;
                let c = bool::slice(st.cpu(name)?);
                CpuStorage::Bool(if self.kind == RedKind::All {
                    fold_axes(
                        c,
                        xc.layout(),
                        &axes,
                        true,
                        |a, b| a & b,
                        |a, b| a & b,
                        |r| r.iter().all(|&b| b),
                    )
                } else {
                    fold_axes(
                        c,
                        xc.layout(),
                        &axes,
                        false,
                        |a, b| a | b,
                        |a, b| a | b,
                        |r| r.iter().any(|&b| b),
                    )
                })
            }
            RedKind::Mean => {
                let work = if x.dtype().is_float() && m.dtype.is_float() {
                    m.dtype.compute_dtype()
                } else {
                    DType::F64
                };
                let mut s = sum_storage(x, &axes, work)?;
                match &mut s {
                    CpuStorage::F32(v) => v.iter_mut().for_each(|a| *a /= n as f32),
                    CpuStorage::F64(v) => v.iter_mut().for_each(|a| *a /= n as f64),
                    _ => unreachable!("mean accumulates in a float type"),
                }
                s
            }
        };
        let t = Tensor::from_cpu(data, &m.shape)?;
        Ok(vec![t.cast_to(m.dtype)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let x = ctx.input(0);
        let dt = x.dtype();
        let axes = reduce_axes(self.name(), self.axes.as_deref(), x.ndim())?;
        let kshape = reduced_shape(x.shape(), &axes, true);
        let gk = g[0]
            .clone()
            .expect("single output")
            .cast(dt)?
            .reshape(&kshape)?;
        let n: usize = axes.iter().map(|&a| x.shape()[a]).product();
        let gx = match self.kind {
            RedKind::Mean => {
                gk.broadcast_to(x.shape())?
                    .scalar_op(Bin::Mul, 1.0 / n as f64, false)?
            }
            RedKind::Max | RedKind::Min => {
                // Split evenly between the positions that hold the extreme value.
                let out = ctx.output(0)?.reshape(&kshape)?;
                let mask = x.binary(Bin::Eq, &out)?.cast(dt)?;
                let count = mask.sum_axes(&isize_axes(&axes), true)?;
                gk.mul(&mask.div(&count)?)?
            }
            RedKind::Prod => {
                // d prod / d x_i is the product of the others: zeros need care.
                let zero = x.scalar_op(Bin::Eq, 0.0, false)?.cast(dt)?;
                let nonzero_x = x.add(&zero)?; // zeros replaced by ones
                let p = self.keep(RedKind::Prod, &axes, &nonzero_x)?;
                let zeros = zero.sum_axes(&isize_axes(&axes), true)?;
                let one_zero = zeros.scalar_op(Bin::Eq, 1.0, false)?.cast(dt)?;
                let no_zero = zeros.scalar_op(Bin::Eq, 0.0, false)?.cast(dt)?;
                let at_zero = zero.mul(&one_zero)?;
                let elsewhere = zero
                    .scalar_op(Bin::Sub, 1.0, true)?
                    .mul(&no_zero)?
                    .div(&nonzero_x)?;
                gk.mul(&p)?.mul(&at_zero.add(&elsewhere)?)?
            }
            RedKind::All | RedKind::Any => return Ok(vec![None]),
        };
        Ok(vec![Some(gx)])
    }
}

/// `argmax` / `argmin` along one axis (or over the flattened array): int64 indices of the first
/// extreme element (NaN counts as extreme, as in NumPy).
pub struct ArgReduce {
    pub max: bool,
    pub axis: Option<i64>,
    pub keepdims: bool,
}

fn arg_best<T: PartialOrd + Copy>(r: &[T], max: bool) -> i64 {
    #[allow(clippy::eq_op)]
    let nan = |v: T| v != v;
    let mut bi = 0usize;
    let mut b = r[0];
    if nan(b) {
        return 0;
    }
    for (i, &v) in r.iter().enumerate().skip(1) {
        if nan(v) {
            return i as i64;
        }
        if (max && v > b) || (!max && v < b) {
            b = v;
            bi = i;
        }
    }
    bi as i64
}

impl ArgReduce {
    fn axes(&self, ndim: usize) -> Result<Vec<usize>> {
        match self.axis {
            None => Ok((0..ndim).collect()),
            Some(a) => Ok(vec![norm_axis(self.name(), a as isize, ndim)?]),
        }
    }
}

impl Op for ArgReduce {
    fn name(&self) -> &'static str {
        if self.max {
            "argmax"
        } else {
            "argmin"
        }
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("axis", self.axis.map_or(Attr::None, Attr::Int))
            .with("keepdims", Attr::Bool(self.keepdims))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let axes = self.axes(i[0].shape.len())?;
        Ok(vec![Meta::new(
            reduced_shape(&i[0].shape, &axes, self.keepdims),
            DType::I64,
        )])
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let x = &x[0];
        let m = self.infer(&[Meta::of(x)])?.swap_remove(0);
        let axes = self.axes(x.ndim())?;
        let n: usize = axes.iter().map(|&a| x.shape()[a]).product();
        if n == 0 {
            return Err(Error::value(
                self.name(),
                format!(
                    "attempt to get {} of an empty sequence (shape {:?})",
                    self.name(),
                    x.shape()
                ),
            ));
        }
        let xc = x.cast_to(x.dtype().compute_dtype())?;
        let st = xc.storage()?;
        let c = st.cpu(self.name())?;
        let max = self.max;
        let idx = with_compute_dtype!(
            xc.dtype(),
            T,
            for_each_group(T::slice(c), xc.layout(), &axes, |r| arg_best(r, max)),
            return Err(half_err(self.name()))
        );
        Ok(vec![Tensor::from_vec(idx, &m.shape)?])
    }
}

/// `var` / `std` with `ddof`; integer inputs give float32 (MXNet's default float).
pub struct Moment {
    pub std: bool,
    pub axes: Option<Vec<i64>>,
    pub keepdims: bool,
    pub ddof: i64,
    pub dtype: Option<DType>,
}

impl Op for Moment {
    fn name(&self) -> &'static str {
        if self.std {
            "std"
        } else {
            "var"
        }
    }
    fn mxnet_name(&self) -> &'static str {
        if self.std {
            "_npi_std"
        } else {
            "_npi_var"
        }
    }
    fn attrs(&self) -> Attrs {
        let a = Attrs::new()
            .with("axis", axes_attr(&self.axes))
            .with("keepdims", Attr::Bool(self.keepdims))
            .with("ddof", Attr::Int(self.ddof));
        match self.dtype {
            Some(d) => a.with("dtype", Attr::Str(d.name().into())),
            None => a,
        }
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let axes = reduce_axes(self.name(), self.axes.as_deref(), i[0].shape.len())?;
        let x = i[0].dtype;
        Ok(vec![Meta::new(
            reduced_shape(&i[0].shape, &axes, self.keepdims),
            self.dtype
                .unwrap_or(if x.is_float() { x } else { DType::F32 }),
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let x = &x[0];
        let m = self.infer(&[Meta::of(x)])?.swap_remove(0);
        let axes = reduce_axes(self.name(), self.axes.as_deref(), x.ndim())?;
        let xd = x.cast_to(DType::F64)?;
        let st = xd.storage()?;
        let c = f64::slice(st.cpu(self.name())?);
        let (ddof, std) = (self.ddof, self.std);
        let v = for_each_group(c, xd.layout(), &axes, |r| {
            let n = r.len();
            let mean = sum_lanes(r) / n as f64;
            let ss: f64 = r.iter().map(|&v| (v - mean) * (v - mean)).sum();
            let var = ss / (n as i64 - ddof).max(0) as f64;
            if std {
                var.sqrt()
            } else {
                var
            }
        });
        let t = Tensor::from_vec(v, &m.shape)?;
        Ok(vec![t.cast_to(m.dtype)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let x = ctx.input(0);
        let dt = x.dtype();
        let axes = reduce_axes(self.name(), self.axes.as_deref(), x.ndim())?;
        let kshape = reduced_shape(x.shape(), &axes, true);
        let gk = g[0]
            .clone()
            .expect("single output")
            .cast(dt)?
            .reshape(&kshape)?;
        let n: usize = axes.iter().map(|&a| x.shape()[a]).product();
        let denom = (n as i64 - self.ddof).max(0) as f64;
        let mean = apply1(
            Arc::new(Reduce {
                kind: RedKind::Mean,
                axes: Some(axes.iter().map(|&a| a as i64).collect()),
                keepdims: true,
                dtype: None,
            }),
            &[x],
        )?;
        let d = x.sub(&mean)?;
        let gx = if self.std {
            let out = ctx.output(0)?.cast(dt)?.reshape(&kshape)?;
            gk.mul(&d)?
                .div(&out)?
                .scalar_op(Bin::Mul, 1.0 / denom, false)?
        } else {
            gk.mul(&d)?.scalar_op(Bin::Mul, 2.0 / denom, false)?
        };
        Ok(vec![Some(gx)])
    }
}

/// `cumsum(x, axis, dtype)`: `axis` None scans the flattened array.
pub struct CumSum {
    pub axis: Option<i64>,
    pub dtype: Option<DType>,
}

fn scan<T: Num>(d: &mut [T], outer: usize, n: usize, inner: usize) {
    let block = n * inner;
    if outer * block == 0 {
        return;
    }
    let one = |b: &mut [T]| {
        for i in 1..n {
            let (prev, cur) = b.split_at_mut(i * inner);
            let prev = &prev[(i - 1) * inner..];
            for (c, &p) in cur[..inner].iter_mut().zip(prev) {
                *c = T::add(*c, p);
            }
        }
    };
    if cpu::parallel(outer * block) && outer > 1 {
        d.par_chunks_mut(block).for_each(one);
    } else {
        d.chunks_mut(block).for_each(one);
    }
}

impl CumSum {
    fn shape_axis(&self, shape: &[usize]) -> Result<(Vec<usize>, usize)> {
        match self.axis {
            None => Ok((vec![shape.iter().product()], 0)),
            Some(a) => Ok((
                shape.to_vec(),
                norm_axis("cumsum", a as isize, shape.len())?,
            )),
        }
    }
}

impl Op for CumSum {
    fn name(&self) -> &'static str {
        "cumsum"
    }
    fn mxnet_name(&self) -> &'static str {
        "_np_cumsum"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("axis", self.axis.map_or(Attr::None, Attr::Int))
            .with(
                "dtype",
                self.dtype
                    .map_or(Attr::None, |d| Attr::Str(d.name().into())),
            )
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let (shape, _) = self.shape_axis(&i[0].shape)?;
        Ok(vec![Meta::new(
            shape,
            self.dtype.unwrap_or(sum_dtype(i[0].dtype)),
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let x = &x[0];
        let m = self.infer(&[Meta::of(x)])?.swap_remove(0);
        let (shape, axis) = self.shape_axis(x.shape())?;
        let work = m.dtype.compute_dtype();
        let mut data = {
            let st = x.storage()?;
            cpu::cast(st.cpu("cumsum")?, x.layout(), work)
        };
        if !shape.is_empty() {
            let outer: usize = shape[..axis].iter().product();
            let inner: usize = shape[axis + 1..].iter().product();
            with_compute_dtype!(
                work,
                T,
                scan(T::slice_mut(&mut data), outer, shape[axis], inner),
                return Err(half_err("cumsum"))
            );
        }
        let t = Tensor::from_cpu(data, &m.shape)?;
        Ok(vec![t.cast_to(m.dtype)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let x = ctx.input(0);
        let g = g[0].clone().expect("single output").cast(x.dtype())?;
        let (_, axis) = self.shape_axis(x.shape())?;
        let rev = apply1(
            Arc::new(CumSum {
                axis: Some(axis as i64),
                dtype: None,
            }),
            &[&g.flip(vec![axis as i64])?],
        )?
        .flip(vec![axis as i64])?;
        Ok(vec![Some(rev.reshape(x.shape())?)])
    }
}

impl Tensor {
    pub fn sum_axes(&self, axes: &[isize], keepdims: bool) -> Result<Tensor> {
        let axes = axes.iter().map(|&a| a as i64).collect();
        apply1(
            Arc::new(Sum {
                axes: Some(axes),
                keepdims,
                dtype: None,
            }),
            &[self],
        )
    }
    /// `mean`, `prod`, `max`, `min`, `all` or `any` over `axes` (None: all).
    pub fn reduce(&self, kind: RedKind, axes: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
        apply1(
            Arc::new(Reduce {
                kind,
                axes: axes.map(|a| a.to_vec()),
                keepdims,
                dtype: None,
            }),
            &[self],
        )
    }
}

pub fn register(r: &mut Registry) {
    fn sum(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(Sum {
            axes: a.opt_ints("sum", "axis")?,
            keepdims: a.bool("sum", "keepdims", false)?,
            dtype: a.opt_dtype("sum", "dtype")?,
        }))
    }
    for n in ["sum", "_np_sum", "_npi_sum", "sum_axis"] {
        r.insert(n, sum);
    }
    fn red(a: &Attrs, kind: RedKind) -> Result<Arc<dyn Op>> {
        let op = kind.name();
        Ok(Arc::new(Reduce {
            kind,
            axes: a.opt_ints(op, "axis")?,
            keepdims: a.bool(op, "keepdims", false)?,
            dtype: a.opt_dtype(op, "dtype")?,
        }))
    }
    macro_rules! reg {
        ($kind:ident, $($n:expr),*) => {$(
            r.insert($n, |a| red(a, RedKind::$kind));
        )*};
    }
    reg!(Mean, "mean", "_npi_mean", "_np_mean");
    reg!(Prod, "prod", "_np_prod", "_npi_prod");
    reg!(Max, "max", "amax", "_np_max", "_npi_max", "max_axis");
    reg!(Min, "min", "amin", "_np_min", "_npi_min", "min_axis");
    reg!(All, "all", "_np_all");
    reg!(Any, "any", "_np_any");
    fn arg(a: &Attrs, max: bool) -> Result<Arc<dyn Op>> {
        let op = if max { "argmax" } else { "argmin" };
        Ok(Arc::new(ArgReduce {
            max,
            axis: a.opt_int(op, "axis")?,
            keepdims: a.bool(op, "keepdims", false)?,
        }))
    }
    r.insert("argmax", |a| arg(a, true));
    r.insert("_npi_argmax", |a| arg(a, true));
    r.insert("argmin", |a| arg(a, false));
    r.insert("_npi_argmin", |a| arg(a, false));
    fn moment(a: &Attrs, std: bool) -> Result<Arc<dyn Op>> {
        let op = if std { "std" } else { "var" };
        Ok(Arc::new(Moment {
            std,
            axes: a.opt_ints(op, "axis")?,
            keepdims: a.bool(op, "keepdims", false)?,
            ddof: a.int(op, "ddof", 0)?,
            dtype: a.opt_dtype(op, "dtype")?,
        }))
    }
    r.insert("std", |a| moment(a, true));
    r.insert("_npi_std", |a| moment(a, true));
    r.insert("var", |a| moment(a, false));
    r.insert("_npi_var", |a| moment(a, false));
    fn cumsum(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(CumSum {
            axis: a.opt_int("cumsum", "axis")?,
            dtype: a.opt_dtype("cumsum", "dtype")?,
        }))
    }
    r.insert("cumsum", cumsum);
    r.insert("_np_cumsum", cumsum);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{build, invoke};

    fn arange(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        // Values with a pattern that makes every position distinct modulo 97.
        let v: Vec<f64> = (0..n).map(|i| ((i * 37) % 97) as f64 - 40.0).collect();
        Tensor::from_vec(v, shape).unwrap()
    }

    /// Reference sum over axes by walking every index.
    fn naive_sum(x: &Tensor, axes: &[usize]) -> Vec<f64> {
        let shape = x.shape().clone();
        let v = x.to_f64_vec().unwrap();
        let out_shape = reduced_shape(&shape, axes, true);
        let mut out = vec![0.0; out_shape.iter().product()];
        let ostr = crate::layout::contiguous_strides(&out_shape);
        let mut idx = vec![0usize; shape.len()];
        for val in v {
            let o: isize = idx
                .iter()
                .enumerate()
                .map(|(d, &i)| {
                    if axes.contains(&d) {
                        0
                    } else {
                        i as isize * ostr[d]
                    }
                })
                .sum();
            out[o as usize] += val;
            for d in (0..shape.len()).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out
    }

    #[test]
    fn sum_every_block_shape_matches_naive() {
        // Small and large (parallel) blocks: rows, columns, middle axes, strided views.
        let cases: Vec<(Vec<usize>, Vec<usize>)> = vec![
            (vec![3, 4], vec![0]),
            (vec![3, 4], vec![1]),
            (vec![2, 3, 4], vec![0, 2]),
            (vec![2, 3, 4], vec![1]),
            (vec![3, 50000], vec![1]),
            (vec![50000, 3], vec![0]),
            (vec![200, 300], vec![0]),
            (vec![2, 30000, 3], vec![1]),
            (vec![3, 7, 5000], vec![1]),
            (vec![70000], vec![0]),
            (vec![4, 5], vec![]),
        ];
        for (shape, axes) in cases {
            let x = arange(&shape);
            let want = naive_sum(&x, &axes);
            let got = x
                .sum_axes(&isize_axes(&axes), false)
                .unwrap()
                .to_f64_vec()
                .unwrap();
            assert_eq!(got, want, "shape {shape:?} axes {axes:?}");
            // A transposed (strided) view of the same data.
            let nd = shape.len() as i64;
            let t = x.transpose(None).unwrap();
            let taxes: Vec<usize> = axes.iter().map(|&a| (nd as usize) - 1 - a).collect();
            let want_t = naive_sum(&t, &taxes);
            let got_t = t
                .sum_axes(&isize_axes(&taxes), false)
                .unwrap()
                .to_f64_vec()
                .unwrap();
            assert_eq!(got_t, want_t, "transposed shape {shape:?} axes {axes:?}");
        }
    }

    #[test]
    fn float32_sum_of_ten_million_is_accurate() {
        let n = 10_000_000;
        let x = Tensor::from_vec(vec![0.1f32; n], &[n]).unwrap();
        let t = std::time::Instant::now();
        let s = x.sum_axes(&[0], false).unwrap().to_vec::<f32>().unwrap()[0];
        eprintln!("sum of 1e7 float32: {:?}", t.elapsed());
        assert!((s as f64 - 1e6).abs() < 4.0, "{s}"); // NumPy gives 1000000.1
    }

    fn run(name: &str, x: &Tensor, attrs: Attrs) -> Tensor {
        invoke(name, &[x], &attrs).unwrap().swap_remove(0)
    }

    #[test]
    fn reductions_follow_numpy() {
        let x = Tensor::from_vec(vec![3.0f32, -1.0, 4.0, 1.0, -5.0, 9.0], &[2, 3]).unwrap();
        let ax = |a: i64| Attrs::new().with("axis", Attr::Int(a));
        assert_eq!(run("max", &x, ax(1)).to_f64_vec().unwrap(), vec![4.0, 9.0]);
        assert_eq!(
            run("amin", &x, ax(0)).to_f64_vec().unwrap(),
            vec![1.0, -5.0, 4.0]
        );
        assert_eq!(
            run("prod", &x, ax(1)).to_f64_vec().unwrap(),
            vec![-12.0, -45.0]
        );
        assert_eq!(
            run("mean", &x, Attrs::new()).to_f64_vec().unwrap(),
            vec![(11.0f32 / 6.0) as f64]
        );
        assert_eq!(
            run("argmax", &x, Attrs::new()).to_vec::<i64>().unwrap(),
            vec![5]
        );
        assert_eq!(
            run("argmin", &x, ax(1)).to_vec::<i64>().unwrap(),
            vec![1, 1]
        );
        let v = run("var", &x, ax(1).with("ddof", Attr::Int(1)))
            .to_f64_vec()
            .unwrap();
        assert!(
            (v[0] - 7.0).abs() < 1e-5 && (v[1] - 148.0 / 3.0).abs() < 1e-4,
            "{v:?}"
        );
        assert_eq!(
            run("cumsum", &x, ax(0)).to_f64_vec().unwrap(),
            vec![3.0, -1.0, 4.0, 4.0, -6.0, 13.0]
        );
        assert_eq!(
            run("cumsum", &x, Attrs::new()).to_f64_vec().unwrap(),
            vec![3.0, 2.0, 6.0, 7.0, 2.0, 11.0]
        );
        let b = Tensor::from_vec(vec![true, false, true, true], &[2, 2]).unwrap();
        assert_eq!(
            run("all", &b, ax(1)).to_vec::<bool>().unwrap(),
            vec![false, true]
        );
        assert_eq!(
            run("any", &b, ax(0)).to_vec::<bool>().unwrap(),
            vec![true, true]
        );
        let s = run("sum", &b, Attrs::new());
        assert_eq!(
            (s.dtype(), s.to_f64_vec().unwrap()),
            (DType::I64, vec![3.0])
        );
        // Integer mean is float32 (MXNet); NaN propagates through max; argmax finds the first NaN.
        let i = Tensor::from_vec(vec![1i32, 2, 4], &[3]).unwrap();
        let m = run("mean", &i, Attrs::new());
        assert_eq!(
            (m.dtype(), m.to_f64_vec().unwrap()),
            (DType::F32, vec![(7.0f32 / 3.0) as f64])
        );
        let nan = Tensor::from_vec(vec![1.0f64, f64::NAN, 3.0, f64::NAN], &[4]).unwrap();
        assert!(run("max", &nan, Attrs::new()).to_f64_vec().unwrap()[0].is_nan());
        assert_eq!(
            run("argmax", &nan, Attrs::new()).to_vec::<i64>().unwrap(),
            vec![1]
        );
    }

    #[test]
    fn empty_reductions() {
        let e = Tensor::from_vec(Vec::<f32>::new(), &[0, 3]).unwrap();
        let ax = |a: i64| Attrs::new().with("axis", Attr::Int(a));
        assert_eq!(run("sum", &e, ax(0)).to_f64_vec().unwrap(), vec![0.0; 3]);
        assert_eq!(run("prod", &e, ax(0)).to_f64_vec().unwrap(), vec![1.0; 3]);
        assert_eq!(run("max", &e, ax(1)).shape().as_slice(), &[0]);
        let err = invoke("max", &[&e], &ax(0)).unwrap_err().to_string();
        assert!(err.contains("max") && err.contains("zero-size"), "{err}");
        assert!(invoke("argmin", &[&e], &Attrs::new()).is_err());
        assert!(
            build("sum", &Attrs::new().with("axis", Attr::Ints(vec![0, 0])))
                .and_then(|op| crate::ops::apply(op, &[&e]))
                .is_err()
        );
        assert!(invoke("sum", &[&e], &ax(2)).is_err());
    }

    #[test]
    fn gradients_of_max_prod_and_cumsum() {
        use crate::autograd;
        let x = Tensor::from_vec(vec![2.0f64, 5.0, 5.0, 0.0, 3.0, 4.0], &[2, 3]).unwrap();
        let grad = |name: &str, attrs: Attrs| -> Vec<f64> {
            let v = x.detach();
            autograd::mark_variable(&v, None, autograd::GradReq::Write);
            let prev = autograd::set_recording(true);
            let y = invoke(name, &[&v], &attrs).unwrap().swap_remove(0);
            let s = y
                .sum_axes(&(0..y.ndim() as isize).collect::<Vec<_>>(), false)
                .unwrap();
            autograd::set_recording(prev);
            let g = autograd::backward(&[s], &[None], Some(&[v.clone()]), false, false, true);
            g.unwrap()[0].to_f64_vec().unwrap()
        };
        let ax1 = Attrs::new().with("axis", Attr::Int(1));
        // Ties split evenly.
        assert_eq!(grad("max", ax1.clone()), vec![0.0, 0.5, 0.5, 0.0, 0.0, 1.0]);
        // One zero in the second row: only it gets the product of the others.
        assert_eq!(
            grad("prod", ax1.clone()),
            vec![25.0, 10.0, 10.0, 12.0, 0.0, 0.0]
        );
        assert_eq!(grad("cumsum", ax1), vec![3.0, 2.0, 1.0, 3.0, 2.0, 1.0]);
    }
}
