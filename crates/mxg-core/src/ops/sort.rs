//! Sorting along an axis: `sort`, `argsort` (stable), MXNet's `topk`, `unique`, and the gather and
//! scatter-add along an axis that carry their gradients.
use super::{apply1, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::backend::cpu::{self, num::Num};
use crate::layout::{norm_axis, numel, Layout};
use crate::storage::{CpuElement, CpuStorage};
use crate::{with_compute_dtype, DType, Element, Error, Result, Tensor};
use rayon::prelude::*;
use std::cmp::Ordering;
use std::sync::Arc;

/// NumPy's sort order: NaN after everything else.
#[inline]
#[allow(clippy::eq_op)]
fn cmp_nan_last<T: PartialOrd>(a: &T, b: &T) -> Ordering {
    match a.partial_cmp(b) {
        Some(o) => o,
        None => (a != a).cmp(&(b != b)),
    }
}

fn half_err(op: &str) -> Error {
    Error::Unsupported(format!("{op}: half floats are computed as float32"))
}

/// The permutation that moves `axis` last, and the shape it gives.
fn axis_last(shape: &[usize], axis: usize) -> (Vec<usize>, Vec<usize>) {
    let perm: Vec<usize> = (0..shape.len())
        .filter(|&i| i != axis)
        .chain([axis])
        .collect();
    let pshape = perm.iter().map(|&i| shape[i]).collect();
    (perm, pshape)
}

/// A contiguous tensor in the original axis order from data laid out with `axis` last.
fn unpermute(data: CpuStorage, pshape: &[usize], perm: &[usize]) -> Result<Tensor> {
    let t = Tensor::from_cpu(data, pshape)?;
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    let l = t.layout().permute("sort", &inv)?;
    t.with_layout(l).contiguous()
}

/// The flattened elements of `x` as a 1-D tensor (no copy when contiguous; not recorded).
fn flat(x: &Tensor) -> Result<Tensor> {
    let c = x.contiguous()?;
    let n = c.numel();
    let l = Layout {
        shape: vec![n],
        strides: vec![1],
        offset: c.layout().offset,
    };
    Ok(c.with_layout(l))
}

/// `x` (flattened when `axis` is None) and the normalised axis.
fn prepare(op: &str, x: &Tensor, axis: Option<i64>) -> Result<(Tensor, usize)> {
    match axis {
        None => Ok((flat(x)?, 0)),
        Some(a) => Ok((x.clone(), norm_axis(op, a as isize, x.ndim())?)),
    }
}

/// Stable sort of each row of `n` elements: sorted values and their positions in the row.
fn sort_rows<T: Element>(c: &[T], n: usize, descending: bool) -> (Vec<T>, Vec<i64>) {
    let total = c.len();
    let mut vals = vec![T::default(); total];
    let mut idx = vec![0i64; total];
    if n == 0 || total == 0 {
        return (vals, idx);
    }
    let work = |(row, (vo, io)): (&[T], (&mut [T], &mut [i64]))| {
        let mut p: Vec<(T, usize)> = row.iter().copied().zip(0..).collect();
        if descending {
            p.sort_by(|a, b| cmp_nan_last(&b.0, &a.0));
        } else {
            p.sort_by(|a, b| cmp_nan_last(&a.0, &b.0));
        }
        for (k, (v, j)) in p.into_iter().enumerate() {
            vo[k] = v;
            io[k] = j as i64;
        }
    };
    if cpu::parallel(total) && total / n > 1 {
        c.par_chunks(n)
            .zip(vals.par_chunks_mut(n).zip(idx.par_chunks_mut(n)))
            .for_each(work);
    } else {
        c.chunks(n)
            .zip(vals.chunks_mut(n).zip(idx.chunks_mut(n)))
            .for_each(work);
    }
    (vals, idx)
}

/// Sorted values (compute dtype) and indices along `axis` of `x`, laid out with the axis last.
struct Sorted {
    vals: CpuStorage,
    idx: Vec<i64>,
    perm: Vec<usize>,
    pshape: Vec<usize>,
}

fn sort_along(op: &str, x: &Tensor, axis: usize, descending: bool) -> Result<Sorted> {
    let xc = x.cast_to(x.dtype().compute_dtype())?;
    let (perm, pshape) = axis_last(xc.shape(), axis);
    let pl = xc.layout().permute(op, &perm)?;
    let n = xc.shape()[axis];
    let st = xc.storage()?;
    let c = st.cpu(op)?;
    let (vals, idx) = with_compute_dtype!(
        xc.dtype(),
        T,
        {
            let (v, i) = cpu::with_contiguous(T::slice(c), &pl, |r| sort_rows(r, n, descending));
            (T::wrap(v), i)
        },
        return Err(half_err(op))
    );
    Ok(Sorted {
        vals,
        idx,
        perm,
        pshape,
    })
}

/// `sort(x, axis, descending)`: `axis` None sorts the flattened array. NaN sorts last.
pub struct Sort {
    pub axis: Option<i64>,
    pub descending: bool,
}

impl Op for Sort {
    fn name(&self) -> &'static str {
        "sort"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("axis", self.axis.map_or(Attr::None, Attr::Int))
            .with("is_ascend", Attr::Bool(!self.descending))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let shape = match self.axis {
            None => vec![numel(&i[0].shape)],
            Some(a) => {
                norm_axis("sort", a as isize, i[0].shape.len())?;
                i[0].shape.clone()
            }
        };
        Ok(vec![Meta::new(shape, i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let (xs, axis) = prepare("sort", &x[0], self.axis)?;
        let s = sort_along("sort", &xs, axis, self.descending)?;
        let t = unpermute(s.vals, &s.pshape, &s.perm)?;
        Ok(vec![t.cast_to(x[0].dtype())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let x = ctx.input(0);
        let g = g[0].clone().expect("single output").cast(x.dtype())?;
        let (xs, axis) = prepare("sort", &x.detach(), self.axis)?;
        let s = sort_along("sort", &xs, axis, self.descending)?;
        let idx = unpermute(CpuStorage::I64(s.idx), &s.pshape, &s.perm)?;
        let gx = scatter_add_along(&g, &idx, axis, xs.shape())?;
        Ok(vec![Some(gx.reshape(x.shape())?)])
    }
}

/// `argsort(x, axis, descending)`: stable; int64 indices unless `dtype` says otherwise.
pub struct ArgSort {
    pub axis: Option<i64>,
    pub descending: bool,
    pub dtype: DType,
}

impl Op for ArgSort {
    fn name(&self) -> &'static str {
        "argsort"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("axis", self.axis.map_or(Attr::None, Attr::Int))
            .with("is_ascend", Attr::Bool(!self.descending))
            .with("dtype", Attr::Str(self.dtype.name().into()))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let m = Sort {
            axis: self.axis,
            descending: self.descending,
        }
        .infer(i)?;
        Ok(vec![Meta::new(m[0].shape.clone(), self.dtype)])
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let (xs, axis) = prepare("argsort", &x[0], self.axis)?;
        let s = sort_along("argsort", &xs, axis, self.descending)?;
        let t = unpermute(CpuStorage::I64(s.idx), &s.pshape, &s.perm)?;
        Ok(vec![t.cast_to(self.dtype)?])
    }
}

/// What `topk` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetTyp {
    Value,
    Indices,
    Mask,
    Both,
}

impl RetTyp {
    pub fn parse(s: &str) -> Result<RetTyp> {
        Ok(match s {
            "value" => RetTyp::Value,
            "indices" => RetTyp::Indices,
            "mask" => RetTyp::Mask,
            "both" => RetTyp::Both,
            _ => {
                return Err(Error::value(
                    "topk",
                    format!("ret_typ must be 'value', 'indices', 'mask' or 'both', not {s:?}"),
                ))
            }
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            RetTyp::Value => "value",
            RetTyp::Indices => "indices",
            RetTyp::Mask => "mask",
            RetTyp::Both => "both",
        }
    }
}

/// MXNet's `topk`: the `k` largest (or smallest, `is_ascend`) elements along `axis` (None: the
/// flattened array), in order; `k < 1` takes all. Indices are `dtype` (MXNet's default float32).
pub struct TopK {
    pub axis: Option<i64>,
    pub k: i64,
    pub ret: RetTyp,
    pub ascend: bool,
    pub dtype: DType,
}

impl TopK {
    /// Work shape (flattened when axis is None), axis, and k.
    fn geometry(&self, shape: &[usize]) -> Result<(Vec<usize>, usize, usize)> {
        let (ws, axis) = match self.axis {
            None => (vec![numel(shape)], 0),
            Some(a) => (shape.to_vec(), norm_axis("topk", a as isize, shape.len())?),
        };
        let n = ws[axis];
        let k = if self.k < 1 { n } else { self.k as usize };
        if k > n {
            return Err(Error::value(
                "topk",
                format!(
                    "k={k} is larger than the {n} elements along axis {axis} of shape {shape:?}"
                ),
            ));
        }
        Ok((ws, axis, k))
    }

    /// The first k sorted values (compute dtype) and indices per row, axis last.
    fn select(&self, x: &Tensor) -> Result<(CpuStorage, Vec<i64>, Vec<usize>, Vec<usize>, usize)> {
        let (_, axis, k) = self.geometry(x.shape())?;
        let (xs, _) = prepare("topk", x, self.axis)?;
        let s = sort_along("topk", &xs, axis, !self.ascend)?;
        let n = xs.shape()[axis];
        let rows = if n == 0 { 0 } else { s.idx.len() / n };
        let take = |i: usize| (i % k) + (i / k) * n;
        let idx: Vec<i64> = (0..rows * k).map(|i| s.idx[take(i)]).collect();
        let vals = with_compute_dtype!(
            s.vals.dtype(),
            T,
            {
                let v = T::slice(&s.vals);
                T::wrap((0..rows * k).map(|i| v[take(i)]).collect())
            },
            return Err(half_err("topk"))
        );
        let mut pshape = s.pshape;
        *pshape.last_mut().expect("an axis") = k;
        Ok((vals, idx, s.perm, pshape, n))
    }
}

impl Op for TopK {
    fn name(&self) -> &'static str {
        "topk"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("axis", self.axis.map_or(Attr::None, Attr::Int))
            .with("k", Attr::Int(self.k))
            .with("ret_typ", Attr::Str(self.ret.name().into()))
            .with("is_ascend", Attr::Bool(self.ascend))
            .with("dtype", Attr::Str(self.dtype.name().into()))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let (mut ws, axis, k) = self.geometry(&i[0].shape)?;
        ws[axis] = k;
        let v = Meta::new(ws.clone(), i[0].dtype);
        let ix = Meta::new(ws, self.dtype);
        Ok(match self.ret {
            RetTyp::Value => vec![v],
            RetTyp::Indices => vec![ix],
            RetTyp::Mask => vec![i[0].clone()],
            RetTyp::Both => vec![v, ix],
        })
    }
    fn differentiable(&self) -> bool {
        matches!(self.ret, RetTyp::Value | RetTyp::Both)
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let x = &x[0];
        let (vals, idx, perm, pshape, n) = self.select(x)?;
        let values =
            || -> Result<Tensor> { unpermute(vals.clone(), &pshape, &perm)?.cast_to(x.dtype()) };
        let indices = || -> Result<Tensor> {
            unpermute(CpuStorage::I64(idx.clone()), &pshape, &perm)?.cast_to(self.dtype)
        };
        Ok(match self.ret {
            RetTyp::Value => vec![values()?],
            RetTyp::Indices => vec![indices()?],
            RetTyp::Both => vec![values()?, indices()?],
            RetTyp::Mask => {
                let k = *pshape.last().expect("an axis");
                let rows = if k == 0 { 0 } else { idx.len() / k };
                let mut m = vec![0u8; rows * n];
                for (i, &j) in idx.iter().enumerate() {
                    m[(i / k) * n + j as usize] = 1;
                }
                let mut full = pshape.clone();
                *full.last_mut().expect("an axis") = n;
                let t = unpermute(CpuStorage::U8(m), &full, &perm)?;
                let t = t.with_layout(Layout::contiguous(x.shape()));
                vec![t.cast_copy(x.dtype())?]
            }
        })
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let x = ctx.input(0);
        let Some(g) = g[0].clone() else {
            return Ok(vec![None]);
        };
        let g = g.cast(x.dtype())?;
        let (ws, axis, _) = self.geometry(x.shape())?;
        let (_, idx, perm, pshape, _) = self.select(&x.detach())?;
        let idx = unpermute(CpuStorage::I64(idx), &pshape, &perm)?;
        let gx = scatter_add_along(&g, &idx, axis, &ws)?;
        Ok(vec![Some(gx.reshape(x.shape())?)])
    }
}

/// `unique` of the flattened array: sorted distinct values (NaNs collapse into one), and on request
/// the first index of each, the inverse (input-shaped, as NumPy 2 gives it) and the counts.
pub struct Unique {
    pub return_index: bool,
    pub return_inverse: bool,
    pub return_counts: bool,
}

impl Op for Unique {
    fn name(&self) -> &'static str {
        "unique"
    }
    fn mxnet_name(&self) -> &'static str {
        "_npi_unique"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("return_index", Attr::Bool(self.return_index))
            .with("return_inverse", Attr::Bool(self.return_inverse))
            .with("return_counts", Attr::Bool(self.return_counts))
    }
    fn infer(&self, _i: &[Meta]) -> Result<Vec<Meta>> {
        Err(Error::Unsupported(
            "unique: the output shape depends on the values, so it cannot be inferred".into(),
        ))
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let x = &x[0];
        let xs = flat(x)?;
        let s = sort_along("unique", &xs, 0, false)?;
        let n = s.idx.len();
        // Group boundaries in the sorted order.
        #[allow(clippy::eq_op)]
        let starts: Vec<usize> = with_compute_dtype!(
            s.vals.dtype(),
            T,
            {
                let v = T::slice(&s.vals);
                let same = |a: T, b: T| a == b || (a != a && b != b);
                (0..n)
                    .filter(|&i| i == 0 || !same(v[i - 1], v[i]))
                    .collect()
            },
            return Err(half_err("unique"))
        );
        let u = starts.len();
        let values = with_compute_dtype!(
            s.vals.dtype(),
            T,
            {
                let v = T::slice(&s.vals);
                T::wrap(starts.iter().map(|&i| v[i]).collect())
            },
            return Err(half_err("unique"))
        );
        let mut outs = vec![Tensor::from_cpu(values, &[u])?.cast_to(x.dtype())?];
        if self.return_index {
            let first: Vec<i64> = starts.iter().map(|&i| s.idx[i]).collect();
            outs.push(Tensor::from_vec(first, &[u])?);
        }
        if self.return_inverse {
            let mut inv = vec![0i64; n];
            let mut g = 0;
            for i in 0..n {
                if g + 1 < u && starts[g + 1] == i {
                    g += 1;
                }
                inv[s.idx[i] as usize] = g as i64;
            }
            outs.push(Tensor::from_vec(inv, x.shape())?);
        }
        if self.return_counts {
            let counts: Vec<i64> = (0..u)
                .map(|g| {
                    let end = if g + 1 < u { starts[g + 1] } else { n };
                    (end - starts[g]) as i64
                })
                .collect();
            outs.push(Tensor::from_vec(counts, &[u])?);
        }
        Ok(outs)
    }
}

// ---------------------------------------------------------------------------------------------
// Gather and scatter-add along an axis (the gradients of sort and topk).

fn check_index(op: &str, j: i64, n: usize) -> Result<usize> {
    let k = if j < 0 { j + n as i64 } else { j };
    if k < 0 || k >= n as i64 {
        return Err(Error::index(
            op,
            format!("index {j} is out of bounds for an axis of size {n}"),
        ));
    }
    Ok(k as usize)
}

/// Both operands with `axis` last and contiguous, checking that the other dimensions agree.
fn along_rows(
    op: &str,
    data: &Tensor,
    idx: &Tensor,
    axis: usize,
) -> Result<(Tensor, Tensor, Vec<usize>, Vec<usize>)> {
    if data.ndim() != idx.ndim() || axis >= data.ndim() {
        return Err(Error::shapes(
            op,
            &[data.shape(), idx.shape()],
            "expected arrays of the same rank",
        ));
    }
    for d in 0..data.ndim() {
        if d != axis && data.shape()[d] != idx.shape()[d] {
            return Err(Error::shapes(
                op,
                &[data.shape(), idx.shape()],
                &format!("expected equal dimensions except axis {axis}"),
            ));
        }
    }
    let (perm, _) = axis_last(data.shape(), axis);
    let permuted = |t: &Tensor| -> Result<Tensor> {
        let l = t.layout().permute(op, &perm)?;
        t.with_layout(l).contiguous()
    };
    let (_, ipshape) = axis_last(idx.shape(), axis);
    Ok((
        permuted(data)?,
        permuted(&idx.cast_to(DType::I64)?)?,
        perm,
        ipshape,
    ))
}

/// `out[..., k, ...] = x[..., idx[..., k, ...], ...]` along `axis` (NumPy's take_along_axis).
pub struct TakeAlongAxis {
    pub axis: usize,
}

impl Op for TakeAlongAxis {
    fn name(&self) -> &'static str {
        "_sort_take_along_axis"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("axis", Attr::Int(self.axis as i64))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(i[1].shape.clone(), i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let op = self.name();
        let xc = x[0].cast_to(x[0].dtype().compute_dtype())?;
        let (d, ix, perm, ipshape) = along_rows(op, &xc, &x[1], self.axis)?;
        let nx = xc.shape()[self.axis];
        let ni = x[1].shape()[self.axis];
        let (sd, si) = (d.storage()?, ix.storage()?);
        let iv = i64::slice(si.cpu(op)?);
        let out = with_compute_dtype!(
            d.dtype(),
            T,
            {
                let dv = T::slice(sd.cpu(op)?);
                let mut o = Vec::with_capacity(iv.len());
                for (i, &j) in iv.iter().enumerate() {
                    let r = i / ni.max(1);
                    o.push(dv[r * nx + check_index(op, j, nx)?]);
                }
                T::wrap(o)
            },
            return Err(half_err(op))
        );
        let t = unpermute(out, &ipshape, &perm)?;
        Ok(vec![t.cast_to(x[0].dtype())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let x = ctx.input(0);
        Ok(vec![
            Some(scatter_add_along(&g, ctx.input(1), self.axis, x.shape())?),
            None,
        ])
    }
}

/// Zeros of `shape` with `g` added at `idx` along `axis` (the gradient of `TakeAlongAxis`).
pub struct ScatterAddAlongAxis {
    pub axis: usize,
    pub shape: Vec<usize>,
}

impl Op for ScatterAddAlongAxis {
    fn name(&self) -> &'static str {
        "_sort_scatter_add_along_axis"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("axis", Attr::Int(self.axis as i64)).with(
            "shape",
            Attr::Ints(self.shape.iter().map(|&d| d as i64).collect()),
        )
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(self.shape.clone(), i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let op = self.name();
        let gc = x[0].cast_to(x[0].dtype().compute_dtype())?;
        if gc.shape() != x[1].shape() {
            return Err(Error::shapes(
                op,
                &[gc.shape(), x[1].shape()],
                "values and indices must have one shape",
            ));
        }
        let proto = Tensor::zeros(&self.shape, DType::Bool, gc.device())?;
        // Shape check against the destination.
        along_rows(op, &proto, &x[1], self.axis)?;
        let (g, ix, perm, _) = along_rows(op, &gc, &x[1], self.axis)?;
        let (_, pshape) = axis_last(&self.shape, self.axis);
        let nx = self.shape[self.axis];
        let ni = x[1].shape()[self.axis];
        let (sg, si) = (g.storage()?, ix.storage()?);
        let iv = i64::slice(si.cpu(op)?);
        let out = with_compute_dtype!(
            g.dtype(),
            T,
            {
                let gv = T::slice(sg.cpu(op)?);
                let mut o = vec![T::zero(); numel(&self.shape)];
                for (i, (&j, &v)) in iv.iter().zip(gv).enumerate() {
                    let at = (i / ni.max(1)) * nx + check_index(op, j, nx)?;
                    o[at] = <T as Num>::add(o[at], v);
                }
                T::wrap(o)
            },
            return Err(half_err(op))
        );
        let t = unpermute(out, &pshape, &perm)?;
        Ok(vec![t.cast_to(x[0].dtype())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        Ok(vec![Some(take_along(&g, ctx.input(1), self.axis)?), None])
    }
}

/// Recorded `take_along_axis` (for gradients).
pub fn take_along(x: &Tensor, idx: &Tensor, axis: usize) -> Result<Tensor> {
    apply1(Arc::new(TakeAlongAxis { axis }), &[x, idx])
}

/// Recorded scatter-add of `g` at `idx` along `axis` into zeros of `shape`.
pub fn scatter_add_along(g: &Tensor, idx: &Tensor, axis: usize, shape: &[usize]) -> Result<Tensor> {
    apply1(
        Arc::new(ScatterAddAlongAxis {
            axis,
            shape: shape.to_vec(),
        }),
        &[g, idx],
    )
}

pub fn register(r: &mut Registry) {
    fn descending(a: &Attrs, op: &str) -> Result<bool> {
        Ok(a.bool(op, "descending", false)? || !a.bool(op, "is_ascend", true)?)
    }
    fn sort(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(Sort {
            axis: a
                .opt_int("sort", "axis")?
                .or(if has_none_axis(a) { None } else { Some(-1) }),
            descending: descending(a, "sort")?,
        }))
    }
    fn argsort(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(ArgSort {
            axis: a
                .opt_int("argsort", "axis")?
                .or(if has_none_axis(a) { None } else { Some(-1) }),
            descending: descending(a, "argsort")?,
            dtype: a.opt_dtype("argsort", "dtype")?.unwrap_or(DType::I64),
        }))
    }
    fn topk(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(TopK {
            axis: a
                .opt_int("topk", "axis")?
                .or(if has_none_axis(a) { None } else { Some(-1) }),
            k: a.int("topk", "k", 1)?,
            ret: RetTyp::parse(&a.str("ret_typ", "indices"))?,
            ascend: a.bool("topk", "is_ascend", false)?,
            dtype: a.opt_dtype("topk", "dtype")?.unwrap_or(DType::F32),
        }))
    }
    fn unique(a: &Attrs) -> Result<Arc<dyn Op>> {
        if a.get("axis").is_some() {
            return Err(Error::Unsupported(
                "unique: only axis=None (the flattened array) is supported".into(),
            ));
        }
        Ok(Arc::new(Unique {
            return_index: a.bool("unique", "return_index", false)?,
            return_inverse: a.bool("unique", "return_inverse", false)?,
            return_counts: a.bool("unique", "return_counts", false)?,
        }))
    }
    r.insert("sort", sort);
    r.insert("_npi_sort", sort);
    r.insert("argsort", argsort);
    r.insert("_npi_argsort", argsort);
    r.insert("topk", topk);
    r.insert("_npi_topk", topk);
    r.insert("unique", unique);
    r.insert("_npi_unique", unique);
    r.insert("_sort_take_along_axis", |a| {
        Ok(Arc::new(TakeAlongAxis {
            axis: a.int("take_along_axis", "axis", 0)?.max(0) as usize,
        }))
    });
    r.insert("_sort_scatter_add_along_axis", |a| {
        Ok(Arc::new(ScatterAddAlongAxis {
            axis: a.int("scatter_add", "axis", 0)?.max(0) as usize,
            shape: a
                .ints("scatter_add", "shape", &[])?
                .iter()
                .map(|&d| d.max(0) as usize)
                .collect(),
        }))
    });
}

/// Whether `axis` was given explicitly as None (flatten), rather than left out (last axis).
fn has_none_axis(a: &Attrs) -> bool {
    a.0.iter().any(|(k, v)| {
        k == "axis"
            && match v {
                Attr::None => true,
                Attr::Str(s) => matches!(s.trim(), "None" | "none" | "null"),
                _ => false,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::invoke;

    fn run(name: &str, x: &Tensor, attrs: Attrs) -> Vec<Tensor> {
        invoke(name, &[x], &attrs).unwrap()
    }

    #[test]
    fn sort_and_argsort_are_stable_with_nan_last() {
        let x = Tensor::from_vec(vec![3.0f32, f32::NAN, 1.0, 3.0, 2.0, 1.0], &[2, 3]).unwrap();
        let s = run("sort", &x, Attrs::new())[0].to_f64_vec().unwrap();
        assert_eq!(&s[..2], &[1.0, 3.0]);
        assert!(s[2].is_nan());
        assert_eq!(&s[3..], &[1.0, 2.0, 3.0]);
        let a = run("argsort", &x, Attrs::new().with("axis", Attr::None))[0]
            .to_vec::<i64>()
            .unwrap();
        assert_eq!(a, vec![2, 5, 4, 0, 3, 1]);
        let d = run(
            "argsort",
            &x,
            Attrs::new()
                .with("axis", Attr::Int(0))
                .with("descending", Attr::Bool(true)),
        )[0]
        .to_vec::<i64>()
        .unwrap();
        // Column 0: 3, 3 (tie keeps order); column 1: NaN sorts first when descending.
        assert_eq!(d, vec![0, 0, 0, 1, 1, 1]);
        // A large parallel case against a sequential reference.
        let n = 40_000;
        let v: Vec<i32> = (0..2 * n).map(|i| ((i * 7919) % 1000) as i32).collect();
        let t = Tensor::from_vec(v.clone(), &[2, n]).unwrap();
        let got = run("sort", &t, Attrs::new())[0].to_vec::<i32>().unwrap();
        let mut want = v.clone();
        want[..n].sort();
        want[n..].sort();
        assert_eq!(got, want);
    }

    #[test]
    fn topk_modes() {
        let x = Tensor::from_vec(vec![1.0f32, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3]).unwrap();
        let a = |k: i64, ret: &str| {
            Attrs::new()
                .with("k", Attr::Int(k))
                .with("ret_typ", Attr::Str(ret.into()))
        };
        let v = run("topk", &x, a(2, "value"))[0].to_f64_vec().unwrap();
        assert_eq!(v, vec![5.0, 3.0, 6.0, 4.0]);
        let i = &run("topk", &x, a(2, "indices"))[0];
        assert_eq!(
            (i.dtype(), i.to_f64_vec().unwrap()),
            (DType::F32, vec![1.0, 2.0, 2.0, 0.0])
        );
        let m = run("topk", &x, a(1, "mask"))[0].to_f64_vec().unwrap();
        assert_eq!(m, vec![0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        let both = run(
            "topk",
            &x,
            a(2, "both")
                .with("axis", Attr::Int(0))
                .with("is_ascend", Attr::Bool(true)),
        );
        assert_eq!(
            both[0].to_f64_vec().unwrap(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        assert_eq!(
            both[1].to_f64_vec().unwrap(),
            vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
        );
        let flat = run("topk", &x, a(3, "value").with("axis", Attr::None))[0]
            .to_f64_vec()
            .unwrap();
        assert_eq!(flat, vec![6.0, 5.0, 4.0]);
        assert!(invoke("topk", &[&x], &a(4, "value")).is_err());
        assert!(invoke("topk", &[&x], &a(1, "bogus")).is_err());
    }

    #[test]
    fn unique_outputs() {
        let x = Tensor::from_vec(vec![3i64, 1, 3, 2, 1, 3], &[2, 3]).unwrap();
        let o = run(
            "unique",
            &x,
            Attrs::new()
                .with("return_index", Attr::Bool(true))
                .with("return_inverse", Attr::Bool(true))
                .with("return_counts", Attr::Bool(true)),
        );
        assert_eq!(o[0].to_vec::<i64>().unwrap(), vec![1, 2, 3]);
        assert_eq!(o[1].to_vec::<i64>().unwrap(), vec![1, 3, 0]);
        assert_eq!(o[2].to_vec::<i64>().unwrap(), vec![2, 0, 2, 1, 0, 2]);
        assert_eq!(o[2].shape().as_slice(), &[2, 3]);
        assert_eq!(o[3].to_vec::<i64>().unwrap(), vec![2, 1, 3]);
    }

    #[test]
    fn take_and_scatter_check_indices() {
        let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
        let i = Tensor::from_vec(vec![1i64, 1, 0, 5], &[2, 2]).unwrap();
        let err = take_along(&x, &i, 1).unwrap_err();
        assert!(matches!(err, Error::Index { .. }), "{err}");
        let i = Tensor::from_vec(vec![1i64, 1, 0, -1], &[2, 2]).unwrap();
        assert_eq!(
            take_along(&x, &i, 1).unwrap().to_f64_vec().unwrap(),
            vec![2.0, 2.0, 3.0, 4.0]
        );
        let s = scatter_add_along(&x, &i, 1, &[2, 3]).unwrap();
        assert_eq!(s.to_f64_vec().unwrap(), vec![0.0, 3.0, 0.0, 3.0, 0.0, 4.0]);
    }
}
