//! Matrix products: `matmul` (NumPy), `dot` (NumPy's `_np_dot`, and MXNet 1.x `dot` with
//! `transpose_a`/`transpose_b`), `batch_dot` (1.x), `tensordot` and `einsum`.
//!
//! `matmul` is the primitive that runs the strided batched GEMM (backend/cpu/matmul.rs); the
//! others are composed in their forward from views, sums and `matmul` (run unrecorded), and their
//! backward rules are written with recorded tensor ops (`matmul`, `tensordot`, `einsum`, views),
//! so higher-order gradients work.
use super::{apply1, unbroadcast, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::autograd;
use crate::backend::cpu::matmul::{batched_gemm, GemmElem, MatRef};
use crate::layout::{broadcast_shapes, norm_axis, numel, Layout};
use crate::storage::CpuStorage;
use crate::{DType, Error, Result, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

/// A shape as NumPy prints it: `(2, 3)`, `(3,)`, `()`.
fn sh(s: &[usize]) -> String {
    match s.len() {
        1 => format!("({},)", s[0]),
        _ => format!(
            "({})",
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Turns recording off for the forward of a composite op, and back on when dropped.
struct NoRecord(bool);
impl NoRecord {
    fn new() -> NoRecord {
        NoRecord(autograd::set_recording(false))
    }
}
impl Drop for NoRecord {
    fn drop(&mut self) {
        autograd::set_recording(self.0);
    }
}

/// A gradient in the dtype of the value it belongs to.
fn fit(g: Tensor, like: &Tensor) -> Result<Tensor> {
    if g.dtype() == like.dtype() {
        Ok(g)
    } else {
        g.cast(like.dtype())
    }
}

/// The last two axes swapped (a recorded view).
fn swap_last(t: &Tensor) -> Result<Tensor> {
    let n = t.ndim() as i64;
    let mut p: Vec<i64> = (0..n).collect();
    p.swap(n as usize - 1, n as usize - 2);
    t.transpose(Some(p))
}

// ---------------------------------------------------------------------------------------------
// matmul

struct MatmulShape {
    batch: Vec<usize>,
    m: usize,
    k: usize,
    n: usize,
    out: Vec<usize>,
}

fn matmul_shape(op: &str, a: &[usize], b: &[usize]) -> Result<MatmulShape> {
    if a.is_empty() || b.is_empty() {
        return Err(Error::value(
            op,
            format!(
                "operands of shapes {} and {}: a 0-d operand has no axis to contract (use multiply)",
                sh(a),
                sh(b)
            ),
        ));
    }
    let a1: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b1: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (na, nb) = (a1.len(), b1.len());
    let (m, k, k2, n) = (a1[na - 2], a1[na - 1], b1[nb - 2], b1[nb - 1]);
    if k != k2 {
        return Err(Error::shape(
            op,
            format!(
                "shapes {} and {} are not aligned: {k} (last axis of the first) != {k2} ({} of the second)",
                sh(a),
                sh(b),
                if b.len() == 1 { "only axis" } else { "second-to-last axis" }
            ),
        ));
    }
    let batch = broadcast_shapes(op, &a1[..na - 2], &b1[..nb - 2]).map_err(|_| {
        Error::shape(
            op,
            format!(
                "shapes {} and {}: batch dimensions {} and {} cannot be broadcast together",
                sh(a),
                sh(b),
                sh(&a1[..na - 2]),
                sh(&b1[..nb - 2])
            ),
        )
    })?;
    let mut out = batch.clone();
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(MatmulShape {
        batch,
        m,
        k,
        n,
        out,
    })
}

/// One operand's matrices: batch offsets (broadcast over `batch`) and matrix strides.
fn operand<'a, T>(data: &'a [T], l: &Layout, batch: &[usize]) -> Result<MatRef<'a, T>> {
    let nd = l.ndim();
    let bl = Layout {
        shape: l.shape[..nd - 2].to_vec(),
        strides: l.strides[..nd - 2].to_vec(),
        offset: l.offset,
    }
    .broadcast_to("matmul", batch)?;
    Ok(MatRef {
        data,
        offsets: bl.offsets().collect(),
        rs: l.strides[nd - 2],
        cs: l.strides[nd - 1],
    })
}

fn gemm_storage<T: GemmElem>(a: &Tensor, b: &Tensor, s: &MatmulShape) -> Result<CpuStorage> {
    let la = if a.ndim() == 1 {
        a.layout().insert_axis(0)
    } else {
        a.layout().clone()
    };
    let lb = if b.ndim() == 1 {
        b.layout().insert_axis(1)
    } else {
        b.layout().clone()
    };
    let mut out = vec![T::zero(); numel(&s.batch) * s.m * s.n];
    if !out.is_empty() {
        let (sa, sb) = (a.storage()?, b.storage()?);
        let ra = operand(T::slice(sa.cpu("matmul")?), &la, &s.batch)?;
        let rb = operand(T::slice(sb.cpu("matmul")?), &lb, &s.batch)?;
        batched_gemm(s.m, s.n, s.k, &ra, &rb, &mut out)?;
    }
    Ok(T::wrap(out))
}

/// NumPy matmul, computed (not recorded).
fn matmul_forward(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let s = matmul_shape("matmul", a.shape(), b.shape())?;
    let out_dt = DType::promote(a.dtype(), b.dtype());
    let work = out_dt.compute_dtype();
    let (a, b) = (a.cast_to(work)?, b.cast_to(work)?);
    let data = match work {
        DType::F32 => gemm_storage::<f32>(&a, &b, &s)?,
        DType::F64 => gemm_storage::<f64>(&a, &b, &s)?,
        DType::I32 => gemm_storage::<i32>(&a, &b, &s)?,
        DType::I64 => gemm_storage::<i64>(&a, &b, &s)?,
        DType::I8 => gemm_storage::<i8>(&a, &b, &s)?,
        DType::U8 => gemm_storage::<u8>(&a, &b, &s)?,
        DType::Bool => gemm_storage::<bool>(&a, &b, &s)?,
        d => return Err(Error::unsupported_dtype("matmul", d)),
    };
    Tensor::from_cpu(data, &s.out)?.cast_to(out_dt)
}

/// Gradients of `matmul(a, b)` from `g`, with recorded ops.
fn matmul_grads(a: &Tensor, b: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor)> {
    let s = matmul_shape("matmul", a.shape(), b.shape())?;
    let a1 = if a.ndim() == 1 {
        a.reshape(&[1, a.shape()[0]])?
    } else {
        a.clone()
    };
    let b1 = if b.ndim() == 1 {
        b.reshape(&[b.shape()[0], 1])?
    } else {
        b.clone()
    };
    let mut gs = s.batch.clone();
    gs.extend([s.m, s.n]);
    let g1 = g.reshape(&gs)?;
    let ga = g1.matmul(&swap_last(&b1)?)?;
    let gb = swap_last(&a1)?.matmul(&g1)?;
    let ga = unbroadcast(ga, a1.shape())?.reshape(a.shape())?;
    let gb = unbroadcast(gb, b1.shape())?.reshape(b.shape())?;
    Ok((fit(ga, a)?, fit(gb, b)?))
}

/// `matmul(a, b)` with NumPy's rules: 1-D operands are promoted to matrices (and the added axis
/// removed), batch dimensions broadcast.
pub struct MatMul;

impl Op for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn mxnet_name(&self) -> &'static str {
        "_npi_matmul"
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let s = matmul_shape("matmul", &i[0].shape, &i[1].shape)?;
        Ok(vec![Meta::new(
            s.out,
            DType::promote(i[0].dtype, i[1].dtype),
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(vec![matmul_forward(&x[0], &x[1])?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let (ga, gb) = matmul_grads(ctx.input(0), ctx.input(1), &g)?;
        Ok(vec![Some(ga), Some(gb)])
    }
}

// ---------------------------------------------------------------------------------------------
// tensordot

/// Normalised summed axes of `a` and `b`, checked.
fn tensordot_axes(
    op: &str,
    a: &[usize],
    b: &[usize],
    aa: &[i64],
    ba: &[i64],
) -> Result<(Vec<usize>, Vec<usize>)> {
    if aa.len() != ba.len() {
        return Err(Error::value(
            op,
            format!(
                "the two operands sum over different numbers of axes ({aa:?} and {ba:?}) for shapes {} and {}",
                sh(a),
                sh(b)
            ),
        ));
    }
    let norm = |axes: &[i64], nd: usize| -> Result<Vec<usize>> {
        let v: Vec<usize> = axes
            .iter()
            .map(|&x| norm_axis(op, x as isize, nd))
            .collect::<Result<_>>()?;
        let mut s = v.clone();
        s.sort_unstable();
        s.dedup();
        if s.len() != v.len() {
            return Err(Error::value(op, format!("repeated axis in {axes:?}")));
        }
        Ok(v)
    };
    let (va, vb) = (norm(aa, a.len())?, norm(ba, b.len())?);
    for (&x, &y) in va.iter().zip(&vb) {
        if a[x] != b[y] {
            return Err(Error::shape(
                op,
                format!(
                    "shape mismatch for sum: axis {x} of {} has size {} but axis {y} of {} has size {}",
                    sh(a),
                    a[x],
                    sh(b),
                    b[y]
                ),
            ));
        }
    }
    Ok((va, vb))
}

fn int_axes(op: &str, a: &[usize], b: &[usize], n: i64) -> Result<(Vec<i64>, Vec<i64>)> {
    if n < 0 || n as usize > a.len() || n as usize > b.len() {
        return Err(Error::value(
            op,
            format!(
                "axes={n} is out of range for shapes {} and {}",
                sh(a),
                sh(b)
            ),
        ));
    }
    let n = n as usize;
    Ok((
        (a.len() - n..a.len()).map(|x| x as i64).collect(),
        (0..n).map(|x| x as i64).collect(),
    ))
}

fn free_axes(nd: usize, summed: &[usize]) -> Vec<usize> {
    (0..nd).filter(|x| !summed.contains(x)).collect()
}

fn tensordot_shape(a: &[usize], b: &[usize], va: &[usize], vb: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = free_axes(a.len(), va).iter().map(|&x| a[x]).collect();
    out.extend(free_axes(b.len(), vb).iter().map(|&x| b[x]));
    out
}

fn perm(t: &Tensor, p: &[usize]) -> Result<Tensor> {
    if p.iter().enumerate().all(|(i, &x)| i == x) {
        return Ok(t.clone());
    }
    t.transpose(Some(p.iter().map(|&x| x as i64).collect()))
}

/// `tensordot` with tensor ops (recorded or not, as the caller's mode says); axes normalised.
fn tensordot_ops(a: &Tensor, b: &Tensor, va: &[usize], vb: &[usize]) -> Result<Tensor> {
    let (fa, fb) = (free_axes(a.ndim(), va), free_axes(b.ndim(), vb));
    let out = tensordot_shape(a.shape(), b.shape(), va, vb);
    let size = |t: &Tensor, ax: &[usize]| ax.iter().map(|&x| t.shape()[x]).product::<usize>();
    let (m, k, n) = (size(a, &fa), size(a, va), size(b, &fb));
    let pa: Vec<usize> = fa.iter().chain(va).cloned().collect();
    let pb: Vec<usize> = vb.iter().chain(&fb).cloned().collect();
    let am = perm(a, &pa)?.reshape(&[m, k])?;
    let bm = perm(b, &pb)?.reshape(&[k, n])?;
    am.matmul(&bm)?.reshape(&out)
}

/// Gradients of `tensordot(a, b, (va, vb))` from `g`, with recorded ops.
fn tensordot_grads(
    a: &Tensor,
    b: &Tensor,
    va: &[usize],
    vb: &[usize],
    g: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let (fa, fb) = (free_axes(a.ndim(), va), free_axes(b.ndim(), vb));
    let nfa = fa.len();
    let g_b: Vec<usize> = (nfa..nfa + fb.len()).collect();
    let g_a: Vec<usize> = (0..nfa).collect();
    // g . b over b's free axes: (free_a..., b's summed axes in ascending order)
    let ga = tensordot(g, b, &g_b, &fb)?;
    let mut sorted_vb = vb.to_vec();
    sorted_vb.sort_unstable();
    let mut labels = fa.clone();
    labels.extend(
        sorted_vb
            .iter()
            .map(|y| va[vb.iter().position(|z| z == y).expect("summed axis")]),
    );
    let ga = perm(&ga, &inverse_positions(&labels))?;
    // a . g over a's free axes: (a's summed axes in ascending order, free_b...)
    let gb = tensordot(a, g, &fa, &g_a)?;
    let mut sorted_va = va.to_vec();
    sorted_va.sort_unstable();
    let mut labels: Vec<usize> = sorted_va
        .iter()
        .map(|x| vb[va.iter().position(|z| z == x).expect("summed axis")])
        .collect();
    labels.extend(&fb);
    let gb = perm(&gb, &inverse_positions(&labels))?;
    Ok((fit(ga, a)?, fit(gb, b)?))
}

/// For axes labelled `labels[i]` (a permutation of 0..n), the transpose that puts them in order.
fn inverse_positions(labels: &[usize]) -> Vec<usize> {
    let mut p = vec![0; labels.len()];
    for (i, &l) in labels.iter().enumerate() {
        p[l] = i;
    }
    p
}

/// Recorded `tensordot` over normalised axes.
fn tensordot(a: &Tensor, b: &Tensor, va: &[usize], vb: &[usize]) -> Result<Tensor> {
    apply1(
        Arc::new(TensorDot {
            a_axes: va.iter().map(|&x| x as i64).collect(),
            b_axes: vb.iter().map(|&x| x as i64).collect(),
            int_axes: None,
        }),
        &[a, b],
    )
}

/// `tensordot(a, b, axes)`: `axes` an int N (last N of `a` with first N of `b`) or a pair of
/// axis lists.
pub struct TensorDot {
    pub a_axes: Vec<i64>,
    pub b_axes: Vec<i64>,
    pub int_axes: Option<i64>,
}

impl TensorDot {
    fn axes(&self, a: &[usize], b: &[usize]) -> Result<(Vec<usize>, Vec<usize>)> {
        match self.int_axes {
            Some(n) => {
                let (x, y) = int_axes("tensordot", a, b, n)?;
                tensordot_axes("tensordot", a, b, &x, &y)
            }
            None => tensordot_axes("tensordot", a, b, &self.a_axes, &self.b_axes),
        }
    }
}

impl Op for TensorDot {
    fn name(&self) -> &'static str {
        "tensordot"
    }
    fn mxnet_name(&self) -> &'static str {
        if self.int_axes.is_some() {
            "_npi_tensordot_int_axes"
        } else {
            "_npi_tensordot"
        }
    }
    fn attrs(&self) -> Attrs {
        match self.int_axes {
            Some(n) => Attrs::new().with("axes", Attr::Int(n)),
            None => Attrs::new()
                .with("a_axes_summed", Attr::Ints(self.a_axes.clone()))
                .with("b_axes_summed", Attr::Ints(self.b_axes.clone())),
        }
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let (va, vb) = self.axes(&i[0].shape, &i[1].shape)?;
        Ok(vec![Meta::new(
            tensordot_shape(&i[0].shape, &i[1].shape, &va, &vb),
            DType::promote(i[0].dtype, i[1].dtype),
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let (va, vb) = self.axes(x[0].shape(), x[1].shape())?;
        let _g = NoRecord::new();
        Ok(vec![tensordot_ops(&x[0], &x[1], &va, &vb)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let (a, b) = (ctx.input(0), ctx.input(1));
        let (va, vb) = self.axes(a.shape(), b.shape())?;
        let (ga, gb) = tensordot_grads(a, b, &va, &vb, &g)?;
        Ok(vec![Some(ga), Some(gb)])
    }
}

// ---------------------------------------------------------------------------------------------
// dot, batch_dot

/// `dot(a, b)`. NumPy's (`legacy` false): 0-d operands multiply, otherwise the sum product of
/// `a`'s last axis with `b`'s second-to-last (its only axis when 1-D). MXNet 1.x's (`legacy`):
/// `a`'s last axis (first with `transpose_a`) with `b`'s first (last with `transpose_b`), and
/// two vectors give shape (1,).
pub struct Dot {
    pub legacy: bool,
    pub transpose_a: bool,
    pub transpose_b: bool,
}

impl Dot {
    fn op(&self) -> &'static str {
        if self.legacy {
            "dot"
        } else {
            "_np_dot"
        }
    }
    /// Summed axes, or None for the 0-d (multiply) case.
    fn axes(&self, a: &[usize], b: &[usize]) -> Result<Option<(Vec<usize>, Vec<usize>)>> {
        let op = self.op();
        if a.is_empty() || b.is_empty() {
            if self.legacy {
                return Err(Error::value(
                    op,
                    format!(
                        "operands of shapes {} and {} must have at least one axis",
                        sh(a),
                        sh(b)
                    ),
                ));
            }
            return Ok(None);
        }
        let (x, y) = if self.legacy {
            let x = if self.transpose_a { 0 } else { a.len() - 1 };
            let y = if self.transpose_b { b.len() - 1 } else { 0 };
            (x, y)
        } else {
            (a.len() - 1, b.len().saturating_sub(2))
        };
        if a[x] != b[y] {
            return Err(Error::shape(
                op,
                format!(
                    "shapes {} and {} not aligned: {} (dim {x}) != {} (dim {y})",
                    sh(a),
                    sh(b),
                    a[x],
                    b[y]
                ),
            ));
        }
        Ok(Some((vec![x], vec![y])))
    }
    fn out_shape(&self, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
        Ok(match self.axes(a, b)? {
            None => broadcast_shapes(self.op(), a, b)?,
            Some((va, vb)) => {
                let s = tensordot_shape(a, b, &va, &vb);
                if self.legacy && s.is_empty() {
                    vec![1]
                } else {
                    s
                }
            }
        })
    }
}

impl Op for Dot {
    fn name(&self) -> &'static str {
        self.op()
    }
    fn attrs(&self) -> Attrs {
        if self.legacy {
            Attrs::new()
                .with("transpose_a", Attr::Bool(self.transpose_a))
                .with("transpose_b", Attr::Bool(self.transpose_b))
        } else {
            Attrs::new()
        }
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(
            self.out_shape(&i[0].shape, &i[1].shape)?,
            DType::promote(i[0].dtype, i[1].dtype),
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let (a, b) = (&x[0], &x[1]);
        let out = self.out_shape(a.shape(), b.shape())?;
        let _g = NoRecord::new();
        let r = match self.axes(a.shape(), b.shape())? {
            None => a.mul(b)?,
            Some((va, vb)) => tensordot_ops(a, b, &va, &vb)?,
        };
        Ok(vec![r.reshape(&out)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let (a, b) = (ctx.input(0), ctx.input(1));
        let (ga, gb) = match self.axes(a.shape(), b.shape())? {
            None => (
                fit(unbroadcast(g.mul(b)?, a.shape())?, a)?,
                fit(unbroadcast(g.mul(a)?, b.shape())?, b)?,
            ),
            Some((va, vb)) => {
                let g = g.reshape(&tensordot_shape(a.shape(), b.shape(), &va, &vb))?;
                tensordot_grads(a, b, &va, &vb, &g)?
            }
        };
        Ok(vec![Some(ga), Some(gb)])
    }
}

/// MXNet 1.x `batch_dot`: `(B..., M, K) x (B..., K, N)` with equal batch dimensions, either
/// operand optionally transposed in its last two axes.
pub struct BatchDot {
    pub transpose_a: bool,
    pub transpose_b: bool,
}

impl BatchDot {
    fn check(&self, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
        let op = "batch_dot";
        if a.len() < 3 || a.len() != b.len() {
            return Err(Error::shape(
                op,
                format!(
                    "operands must have the same number (>= 3) of dimensions, got shapes {} and {}",
                    sh(a),
                    sh(b)
                ),
            ));
        }
        let nd = a.len();
        if a[..nd - 2] != b[..nd - 2] {
            return Err(Error::shape(
                op,
                format!("batch dimensions of shapes {} and {} differ", sh(a), sh(b)),
            ));
        }
        let (m, ka) = if self.transpose_a {
            (a[nd - 1], a[nd - 2])
        } else {
            (a[nd - 2], a[nd - 1])
        };
        let (kb, n) = if self.transpose_b {
            (b[nd - 1], b[nd - 2])
        } else {
            (b[nd - 2], b[nd - 1])
        };
        if ka != kb {
            return Err(Error::shape(
                op,
                format!(
                    "shapes {} and {} (transpose_a={}, transpose_b={}) are not aligned: {ka} != {kb}",
                    sh(a),
                    sh(b),
                    self.transpose_a,
                    self.transpose_b
                ),
            ));
        }
        let mut out = a[..nd - 2].to_vec();
        out.extend([m, n]);
        Ok(out)
    }
}

impl Op for BatchDot {
    fn name(&self) -> &'static str {
        "batch_dot"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("transpose_a", Attr::Bool(self.transpose_a))
            .with("transpose_b", Attr::Bool(self.transpose_b))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(
            self.check(&i[0].shape, &i[1].shape)?,
            DType::promote(i[0].dtype, i[1].dtype),
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        self.check(x[0].shape(), x[1].shape())?;
        let _g = NoRecord::new();
        let a = if self.transpose_a {
            swap_last(&x[0])?
        } else {
            x[0].clone()
        };
        let b = if self.transpose_b {
            swap_last(&x[1])?
        } else {
            x[1].clone()
        };
        Ok(vec![matmul_forward(&a, &b)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let (a, b) = (ctx.input(0), ctx.input(1));
        let a1 = if self.transpose_a {
            swap_last(a)?
        } else {
            a.clone()
        };
        let b1 = if self.transpose_b {
            swap_last(b)?
        } else {
            b.clone()
        };
        let (ga, gb) = matmul_grads(&a1, &b1, &g)?;
        let ga = if self.transpose_a {
            swap_last(&ga)?
        } else {
            ga
        };
        let gb = if self.transpose_b {
            swap_last(&gb)?
        } else {
            gb
        };
        Ok(vec![Some(ga), Some(gb)])
    }
}

// ---------------------------------------------------------------------------------------------
// einsum

/// Labels of ellipsis dimensions: code points past ASCII, one per broadcast dimension.
fn ellipsis_label(j: usize) -> char {
    char::from_u32(0x100 + j as u32).expect("a valid code point")
}

/// A parsed einsum: one label list per operand (repeats allowed), the output's, and each
/// label's size (size-1 dimensions broadcast).
struct EinSpec {
    inputs: Vec<Vec<char>>,
    output: Vec<char>,
    sizes: HashMap<char, usize>,
}

fn parse_einsum(subscripts: &str, shapes: &[&[usize]]) -> Result<EinSpec> {
    let op = "einsum";
    let s: String = subscripts.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match s.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (s.as_str(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != shapes.len() {
        return Err(Error::value(
            op,
            format!(
                "subscripts {subscripts:?} name {} operand(s) but {} were given",
                terms.len(),
                shapes.len()
            ),
        ));
    }
    let letters = |t: &str| -> Result<Vec<char>> {
        t.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    Ok(c)
                } else {
                    Err(Error::value(
                        op,
                        format!("invalid subscript {c:?} in {subscripts:?}: use letters a-z, A-Z and '...'"),
                    ))
                }
            })
            .collect()
    };
    let split_ellipsis = |t: &str| -> Result<(Vec<char>, Option<Vec<char>>)> {
        match t.split_once("...") {
            Some((pre, post)) => {
                if post.contains("...") {
                    return Err(Error::value(
                        op,
                        format!("more than one ellipsis in term {t:?} of {subscripts:?}"),
                    ));
                }
                Ok((letters(pre)?, Some(letters(post)?)))
            }
            None => Ok((letters(t)?, None)),
        }
    };
    let mut parts = Vec::new();
    let mut e_max = 0;
    for (i, (t, shape)) in terms.iter().zip(shapes).enumerate() {
        let (pre, post) = split_ellipsis(t)?;
        let named = pre.len() + post.as_ref().map_or(0, |p| p.len());
        let bad = named > shape.len() || (post.is_none() && named != shape.len());
        if bad {
            return Err(Error::shape(
                op,
                format!(
                    "operand {i} has shape {} ({} dimensions) but its subscripts {t:?} name {named}",
                    sh(shape),
                    shape.len()
                ),
            ));
        }
        let e = if post.is_some() {
            shape.len() - named
        } else {
            0
        };
        e_max = e_max.max(e);
        parts.push((pre, e, post.unwrap_or_default()));
    }
    let inputs: Vec<Vec<char>> = parts
        .iter()
        .map(|(pre, e, post)| {
            let mut v = pre.clone();
            v.extend((e_max - e..e_max).map(ellipsis_label));
            v.extend(post);
            v
        })
        .collect();
    let output: Vec<char> = match rhs {
        Some(r) => {
            let (pre, post) = split_ellipsis(r)?;
            let mut v = pre;
            if let Some(post) = post {
                v.extend((0..e_max).map(ellipsis_label));
                v.extend(post);
            }
            for (i, c) in v.iter().enumerate() {
                if v[..i].contains(c) {
                    return Err(Error::value(
                        op,
                        format!("output subscript {c:?} appears more than once in {subscripts:?}"),
                    ));
                }
                if !inputs.iter().any(|l| l.contains(c)) {
                    return Err(Error::value(
                        op,
                        format!("output subscript {c:?} in {subscripts:?} does not appear in the inputs"),
                    ));
                }
            }
            v
        }
        None => {
            let mut v: Vec<char> = (0..e_max).map(ellipsis_label).collect();
            let mut once: Vec<char> = ('A'..='Z')
                .chain('a'..='z')
                .filter(|c| inputs.iter().flatten().filter(|x| *x == c).count() == 1)
                .collect();
            once.sort_unstable();
            v.extend(once);
            v
        }
    };
    let mut sizes: HashMap<char, usize> = HashMap::new();
    for (i, (labels, shape)) in inputs.iter().zip(shapes).enumerate() {
        for (p, (&c, &d)) in labels.iter().zip(shape.iter()).enumerate() {
            if let Some(q) = labels[..p].iter().position(|&x| x == c) {
                if shape[q] != d {
                    return Err(Error::shape(
                        op,
                        format!(
                            "operand {i} (shape {}) repeats subscript {c:?} over dimensions of sizes {} and {d}",
                            sh(shape),
                            shape[q]
                        ),
                    ));
                }
            }
            match sizes.get(&c).copied() {
                None => {
                    sizes.insert(c, d);
                }
                Some(e) if e == d || d == 1 => {}
                Some(1) => {
                    sizes.insert(c, d);
                }
                Some(e) => {
                    let name = if (c as u32) < 0x100 {
                        format!("subscript {c:?}")
                    } else {
                        "an ellipsis dimension".to_string()
                    };
                    return Err(Error::shape(
                        op,
                        format!(
                            "{name} has size {e} in an earlier operand but {d} in operand {i} (shape {}) of {subscripts:?}",
                            sh(shape)
                        ),
                    ));
                }
            }
        }
    }
    Ok(EinSpec {
        inputs,
        output,
        sizes,
    })
}

/// The view of `t` with repeated labels merged (a diagonal) and size-1 dimensions broadcast to
/// the labels' sizes. Not recorded: used inside einsum's forward.
fn einsum_prepare(
    t: &Tensor,
    labels: &[char],
    sizes: &HashMap<char, usize>,
) -> (Tensor, Vec<char>) {
    let l = t.layout();
    let (mut shape, mut strides, mut labs) = (Vec::new(), Vec::new(), Vec::new());
    for (p, &c) in labels.iter().enumerate() {
        if let Some(q) = labs.iter().position(|&x| x == c) {
            if l.shape[p] != 1 {
                strides[q] += l.strides[p];
            }
        } else {
            let full = sizes[&c];
            if l.shape[p] == 1 && full != 1 {
                strides.push(0);
            } else {
                strides.push(l.strides[p]);
            }
            shape.push(full);
            labs.push(c);
        }
    }
    let v = t.with_layout(Layout {
        shape,
        strides,
        offset: l.offset,
    });
    (v, labs)
}

/// Sums out the labelled axes of `t` for which `drop` holds.
fn sum_labels(
    t: Tensor,
    labels: Vec<char>,
    drop: impl Fn(char) -> bool,
) -> Result<(Tensor, Vec<char>)> {
    let axes: Vec<isize> = (0..labels.len())
        .filter(|&i| drop(labels[i]))
        .map(|i| i as isize)
        .collect();
    if axes.is_empty() {
        return Ok((t, labels));
    }
    let kept = labels.into_iter().filter(|&c| !drop(c)).collect();
    Ok((t.sum_axes(&axes, false)?, kept))
}

/// Pairwise contraction through one batched matmul, keeping the labels in `keep`.
fn contract(
    a: Tensor,
    la: Vec<char>,
    b: Tensor,
    lb: Vec<char>,
    keep: &[char],
) -> Result<(Tensor, Vec<char>)> {
    let (a, la) = sum_labels(a, la.clone(), |c| !lb.contains(&c) && !keep.contains(&c))?;
    let (b, lb) = sum_labels(b, lb.clone(), |c| !la.contains(&c) && !keep.contains(&c))?;
    let batch: Vec<char> = la
        .iter()
        .filter(|c| lb.contains(c) && keep.contains(c))
        .cloned()
        .collect();
    let summed: Vec<char> = la
        .iter()
        .filter(|c| lb.contains(c) && !keep.contains(c))
        .cloned()
        .collect();
    let a_free: Vec<char> = la.iter().filter(|c| !lb.contains(c)).cloned().collect();
    let b_free: Vec<char> = lb.iter().filter(|c| !la.contains(c)).cloned().collect();
    let pos = |l: &[char], c: &char| l.iter().position(|x| x == c).expect("a label");
    let size = |t: &Tensor, l: &[char], cs: &[char]| {
        cs.iter().map(|c| t.shape()[pos(l, c)]).product::<usize>()
    };
    let (nb, m, k, n) = (
        size(&a, &la, &batch),
        size(&a, &la, &a_free),
        size(&a, &la, &summed),
        size(&b, &lb, &b_free),
    );
    let pa: Vec<usize> = batch
        .iter()
        .chain(&a_free)
        .chain(&summed)
        .map(|c| pos(&la, c))
        .collect();
    let pb: Vec<usize> = batch
        .iter()
        .chain(&summed)
        .chain(&b_free)
        .map(|c| pos(&lb, c))
        .collect();
    let am = perm(&a, &pa)?.reshape(&[nb, m, k])?;
    let bm = perm(&b, &pb)?.reshape(&[nb, k, n])?;
    let mut out_shape: Vec<usize> = batch.iter().map(|c| a.shape()[pos(&la, c)]).collect();
    out_shape.extend(a_free.iter().map(|c| a.shape()[pos(&la, c)]));
    out_shape.extend(b_free.iter().map(|c| b.shape()[pos(&lb, c)]));
    let labels: Vec<char> = batch.into_iter().chain(a_free).chain(b_free).collect();
    Ok((am.matmul(&bm)?.reshape(&out_shape)?, labels))
}

/// einsum with tensor ops, left to right through pairwise batched matmuls.
fn einsum_ops(x: &[Tensor], spec: &EinSpec, out_dtype: DType) -> Result<Tensor> {
    let prepared: Vec<(Tensor, Vec<char>)> = x
        .iter()
        .zip(&spec.inputs)
        .map(|(t, l)| einsum_prepare(t, l, &spec.sizes))
        .collect();
    let needed_after = |i: usize| -> Vec<char> {
        let mut v = spec.output.clone();
        for (_, l) in &prepared[i + 1..] {
            v.extend(l);
        }
        v
    };
    let mut it = prepared.iter().enumerate();
    let (_, (t0, l0)) = it.next().expect("at least one operand");
    let keep0 = needed_after(0);
    let (mut cur, mut labels) = sum_labels(t0.clone(), l0.clone(), |c| !keep0.contains(&c))?;
    for (i, (t, l)) in it {
        let keep = needed_after(i);
        let r = contract(cur, labels, t.clone(), l.clone(), &keep)?;
        cur = r.0;
        labels = r.1;
    }
    let (cur, labels) = sum_labels(cur, labels, |c| !spec.output.contains(&c))?;
    let p: Vec<usize> = spec
        .output
        .iter()
        .map(|c| labels.iter().position(|x| x == c).expect("an output label"))
        .collect();
    let out = perm(&cur, &p)?;
    let out = if out.dtype() != out_dtype {
        out.cast_copy(out_dtype)?
    } else {
        out
    };
    // A view that still aliases an input (e.g. 'ij->ji') is copied.
    if x.iter().any(|t| t.same_storage(&out)) {
        return Tensor::from_cpu(out.to_cpu_storage()?, out.shape());
    }
    Ok(out)
}

/// `einsum(subscripts, *operands)`: explicit (`->`) or implicit output, `...` for broadcast
/// dimensions, repeated subscripts for diagonals.
pub struct Einsum {
    pub subscripts: String,
}

impl Einsum {
    fn spec(&self, shapes: &[&[usize]]) -> Result<EinSpec> {
        if shapes.is_empty() {
            return Err(Error::value("einsum", "at least one operand is required"));
        }
        parse_einsum(&self.subscripts, shapes)
    }
}

fn label_letters(spec: &EinSpec) -> Result<HashMap<char, char>> {
    let mut all: Vec<char> = spec.inputs.iter().flatten().cloned().collect();
    all.sort_unstable();
    all.dedup();
    let mut free = ('a'..='z').chain('A'..='Z').filter(|c| !all.contains(c));
    let mut map = HashMap::new();
    for &c in &all {
        let l = if (c as u32) < 0x100 {
            c
        } else {
            free.next().ok_or_else(|| {
                Error::value(
                    "einsum",
                    "too many distinct subscripts for a gradient (at most 52)",
                )
            })?
        };
        map.insert(c, l);
    }
    Ok(map)
}

impl Op for Einsum {
    fn name(&self) -> &'static str {
        "einsum"
    }
    fn mxnet_name(&self) -> &'static str {
        "_npi_einsum"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("subscripts", Attr::Str(self.subscripts.clone()))
            .with("optimize", Attr::Int(0))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let shapes: Vec<&[usize]> = i.iter().map(|m| m.shape.as_slice()).collect();
        let spec = self.spec(&shapes)?;
        let dt = i
            .iter()
            .skip(1)
            .fold(i[0].dtype, |d, m| DType::promote(d, m.dtype));
        Ok(vec![Meta::new(
            spec.output.iter().map(|c| spec.sizes[c]).collect(),
            dt,
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let shapes: Vec<&[usize]> = x.iter().map(|t| t.shape().as_slice()).collect();
        let spec = self.spec(&shapes)?;
        let dt = x
            .iter()
            .skip(1)
            .fold(x[0].dtype(), |d, t| DType::promote(d, t.dtype()));
        let _g = NoRecord::new();
        Ok(vec![einsum_ops(x, &spec, dt)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let shapes: Vec<&[usize]> = ctx.inputs.iter().map(|t| t.shape().as_slice()).collect();
        let spec = self.spec(&shapes)?;
        let map = label_letters(&spec)?;
        let word = |l: &[char]| l.iter().map(|c| map[c]).collect::<String>();
        let mut grads = Vec::new();
        for (i, x) in ctx.inputs.iter().enumerate() {
            let li = &spec.inputs[i];
            let mut distinct: Vec<char> = Vec::new();
            for &c in li {
                if !distinct.contains(&c) {
                    distinct.push(c);
                }
            }
            let elsewhere = |c: &char| {
                spec.output.contains(c)
                    || spec
                        .inputs
                        .iter()
                        .enumerate()
                        .any(|(j, l)| j != i && l.contains(c))
            };
            let target: Vec<char> = distinct.iter().filter(|c| elsewhere(c)).cloned().collect();
            // d out / d x over the labels x shares with the rest: einsum of the others and g.
            let mut terms: Vec<String> = Vec::new();
            let mut ins: Vec<&Tensor> = Vec::new();
            for (j, t) in ctx.inputs.iter().enumerate() {
                if j != i {
                    terms.push(word(&spec.inputs[j]));
                    ins.push(t);
                }
            }
            terms.push(word(&spec.output));
            ins.push(&g);
            let sub = format!("{}->{}", terms.join(","), word(&target));
            let gt = apply1(Arc::new(Einsum { subscripts: sub }), &ins)?;
            // Labels only in x: broadcast along them.
            let own = |c: &char| x.shape()[li.iter().position(|y| y == c).expect("a label")];
            let with_ones: Vec<usize> = distinct
                .iter()
                .map(|c| {
                    if target.contains(c) {
                        gt.shape()[target.iter().position(|y| y == c).unwrap()]
                    } else {
                        1
                    }
                })
                .collect();
            let full: Vec<usize> = distinct
                .iter()
                .map(|c| {
                    if target.contains(c) {
                        spec.sizes[c]
                    } else {
                        own(c)
                    }
                })
                .collect();
            let mut gd = gt.reshape(&with_ones)?.broadcast_to(&full)?;
            // Size-1 dimensions of x that were broadcast: sum back.
            let bc: Vec<isize> = distinct
                .iter()
                .enumerate()
                .filter(|(_, c)| own(c) == 1 && spec.sizes[*c] != 1)
                .map(|(p, _)| p as isize)
                .collect();
            if !bc.is_empty() {
                gd = gd.sum_axes(&bc, true)?;
            }
            // Repeated labels: place the gradient on the diagonal.
            if distinct.len() != li.len() {
                let shape_ones: Vec<usize> = li
                    .iter()
                    .enumerate()
                    .map(|(p, c)| if li[..p].contains(c) { 1 } else { own(c) })
                    .collect();
                gd = gd.reshape(&shape_ones)?.broadcast_to(x.shape())?;
                let mask = diagonal_mask(li, x.shape(), gd.dtype())?;
                gd = gd.mul(&mask)?;
            }
            grads.push(Some(fit(gd, x)?));
        }
        Ok(grads)
    }
}

/// 1 where every repeated label's indices agree, else 0.
fn diagonal_mask(labels: &[char], shape: &[usize], dtype: DType) -> Result<Tensor> {
    let l = Layout::contiguous(shape);
    let n = l.numel();
    let mut v = vec![0.0f64; n];
    let mut idx = vec![0usize; shape.len()];
    for item in v.iter_mut() {
        let ok = labels.iter().enumerate().all(|(p, c)| {
            let q = labels.iter().position(|x| x == c).expect("a label");
            idx[p] == idx[q]
        });
        *item = if ok { 1.0 } else { 0.0 };
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Tensor::from_vec(v, shape)?.cast_copy(dtype)
}

// ---------------------------------------------------------------------------------------------
// Tensor methods and the registry

impl Tensor {
    /// NumPy `matmul` (recorded).
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        apply1(Arc::new(MatMul), &[self, other])
    }
    /// NumPy `dot` (recorded).
    pub fn dot(&self, other: &Tensor) -> Result<Tensor> {
        apply1(
            Arc::new(Dot {
                legacy: false,
                transpose_a: false,
                transpose_b: false,
            }),
            &[self, other],
        )
    }
    /// NumPy `tensordot` over explicit axes (recorded).
    pub fn tensordot(&self, other: &Tensor, a_axes: &[i64], b_axes: &[i64]) -> Result<Tensor> {
        apply1(
            Arc::new(TensorDot {
                a_axes: a_axes.to_vec(),
                b_axes: b_axes.to_vec(),
                int_axes: None,
            }),
            &[self, other],
        )
    }
}

/// NumPy `einsum` (recorded).
pub fn einsum(subscripts: &str, operands: &[&Tensor]) -> Result<Tensor> {
    apply1(
        Arc::new(Einsum {
            subscripts: subscripts.to_string(),
        }),
        operands,
    )
}

pub fn register(r: &mut Registry) {
    r.insert("matmul", |_| Ok(Arc::new(MatMul)));
    r.insert("_npi_matmul", |_| Ok(Arc::new(MatMul)));
    fn dot(a: &Attrs, legacy: bool) -> Result<Arc<dyn Op>> {
        let op = if legacy { "dot" } else { "_np_dot" };
        Ok(Arc::new(Dot {
            legacy,
            transpose_a: a.bool(op, "transpose_a", false)?,
            transpose_b: a.bool(op, "transpose_b", false)?,
        }))
    }
    r.insert("dot", |a| dot(a, true));
    r.insert("_np_dot", |a| dot(a, false));
    r.insert("_npi_dot", |a| dot(a, false));
    r.insert("batch_dot", |a| {
        Ok(Arc::new(BatchDot {
            transpose_a: a.bool("batch_dot", "transpose_a", false)?,
            transpose_b: a.bool("batch_dot", "transpose_b", false)?,
        }))
    });
    fn tensordot(a: &Attrs) -> Result<Arc<dyn Op>> {
        let op = "tensordot";
        let aa = a.opt_ints(op, "a_axes_summed")?;
        let ba = a.opt_ints(op, "b_axes_summed")?;
        Ok(Arc::new(match (aa, ba) {
            (Some(x), Some(y)) => TensorDot {
                a_axes: x,
                b_axes: y,
                int_axes: None,
            },
            (None, None) => TensorDot {
                a_axes: vec![],
                b_axes: vec![],
                int_axes: Some(a.int(op, "axes", 2)?),
            },
            _ => {
                return Err(Error::value(
                    op,
                    "a_axes_summed and b_axes_summed must be given together",
                ))
            }
        }))
    }
    r.insert("tensordot", tensordot);
    r.insert("_npi_tensordot", tensordot);
    r.insert("_npi_tensordot_int_axes", tensordot);
    fn einsum_op(a: &Attrs) -> Result<Arc<dyn Op>> {
        let s = a
            .opt_str("subscripts")
            .ok_or_else(|| Error::value("einsum", "subscripts is required"))?;
        Ok(Arc::new(Einsum { subscripts: s }))
    }
    r.insert("einsum", einsum_op);
    r.insert("_npi_einsum", einsum_op);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: Vec<f64>, s: &[usize]) -> Tensor {
        Tensor::from_vec(v, s).unwrap()
    }

    #[test]
    fn matmul_shapes_and_values() {
        let a = t((0..6).map(|x| x as f64).collect(), &[2, 3]);
        let b = t((0..12).map(|x| x as f64).collect(), &[3, 4]);
        let c = a.matmul(&b).unwrap();
        assert_eq!(c.shape().as_slice(), &[2, 4]);
        assert_eq!(
            c.to_f64_vec().unwrap(),
            vec![20., 23., 26., 29., 56., 68., 80., 92.]
        );
        // transposed view without copying
        let at = a.transpose(None).unwrap();
        assert_eq!(at.matmul(&a).unwrap().shape().as_slice(), &[3, 3]);
        let e = a.matmul(&a).unwrap_err().to_string();
        assert!(e.contains("matmul") && e.contains("(2, 3)"), "{e}");
        let v = t(vec![1., 2., 3.], &[3]);
        assert_eq!(a.matmul(&v).unwrap().to_f64_vec().unwrap(), vec![8., 26.]);
        assert_eq!(v.dot(&v).unwrap().shape().len(), 0);
    }

    #[test]
    fn einsum_parse() {
        let s = parse_einsum("ij,jk", &[&[2, 3], &[3, 4]]).unwrap();
        assert_eq!(s.output, vec!['i', 'k']);
        let s = parse_einsum("...ij->...ji", &[&[5, 2, 3]]).unwrap();
        assert_eq!(s.output.len(), 3);
        assert!(parse_einsum("ij,jk", &[&[2, 3], &[4, 4]]).is_err());
        assert!(parse_einsum("ij", &[&[2, 3, 4]]).is_err());
        let x = t((0..9).map(|x| x as f64).collect(), &[3, 3]);
        assert_eq!(
            einsum("ii", &[&x]).unwrap().to_f64_vec().unwrap(),
            vec![12.]
        );
        assert_eq!(
            einsum("ii->i", &[&x]).unwrap().to_f64_vec().unwrap(),
            vec![0., 4., 8.]
        );
    }
}
