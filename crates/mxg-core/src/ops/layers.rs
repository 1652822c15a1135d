//! Layer ops: `FullyConnected` (GEMM against the weight read transposed through its strides, bias
//! and an optional activation fused into one pass over the output), `Embedding` (row gather; its
//! gradient `_backward_Embedding` adds repeated indices up) and `Dropout` (a mask drawn from the
//! seeded generator, kept in the op so that backward and recomputation see the same one).
use super::nn::{act_grad, with_const_act, Act};
use super::{apply1, random, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::autograd;
use crate::backend::cpu::matmul::{batched_gemm, GemmElem, MatRef};
use crate::backend::cpu::{self, num::Real};
use crate::layout::{norm_axis, numel};
use crate::storage::CpuElement;
use crate::{with_dtype, DType, Error, Result, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

/// A shape as Python prints it: `(2, 3)`, `(3,)`.
pub(crate) fn sh(s: &[usize]) -> String {
    match s {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The float dtype an op computes in: float64 stays, everything else (half floats) is float32.
pub(crate) fn work_dtype(d: DType) -> DType {
    if d == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// Runs `f` on the elements of `t` (cast to `T`, copied only when strided) as one slice.
pub(crate) fn with_slice<T: CpuElement, R>(
    op: &str,
    t: &Tensor,
    f: impl FnOnce(&[T]) -> Result<R>,
) -> Result<R> {
    let c = t.cast_to(T::DTYPE)?.contiguous()?;
    let st = c.storage()?;
    let s = T::slice(st.cpu(op)?);
    f(&s[c.layout().offset..c.layout().offset + c.numel()])
}

pub(crate) fn check_float(op: &str, what: &str, d: DType) -> Result<()> {
    if !d.is_float() {
        return Err(Error::dtype(
            op,
            format!("{what} must be a float array, not {d}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// FullyConnected

/// `FullyConnected(data, weight, bias=None, num_hidden, no_bias=False, flatten=True)`, with our
/// optional `act_type` applied in the same pass as the bias.
#[derive(Clone, Debug)]
pub struct FullyConnected {
    pub num_hidden: usize,
    pub no_bias: bool,
    pub flatten: bool,
    pub act: Option<Act>,
}

/// Rows, in_units and the output shape of a FullyConnected on `x`.
fn fc_geometry(flatten: bool, x: &[usize], n: usize) -> Result<(usize, usize, Vec<usize>)> {
    if x.is_empty() {
        return Err(Error::shape(
            "FullyConnected",
            "data must have at least one dimension",
        ));
    }
    if flatten {
        Ok((x[0], numel(&x[1..]), vec![x[0], n]))
    } else {
        let k = x[x.len() - 1];
        let mut out = x[..x.len() - 1].to_vec();
        out.push(n);
        Ok((numel(&x[..x.len() - 1]), k, out))
    }
}

impl FullyConnected {
    fn check(&self, i: &[Meta]) -> Result<(usize, usize, Vec<usize>)> {
        const OP: &str = "FullyConnected";
        let want = if self.no_bias { 2 } else { 3 };
        if i.len() != want {
            return Err(Error::value(
                OP,
                format!(
                    "expected {want} inputs (data, weight{}), got {}",
                    if self.no_bias { "" } else { ", bias" },
                    i.len()
                ),
            ));
        }
        let n = self.num_hidden;
        let (rows, k, out) = fc_geometry(self.flatten, &i[0].shape, n)?;
        if i[1].shape.as_slice() != [n, k] {
            return Err(Error::shape(
                OP,
                format!(
                    "weight has shape {}, expected (num_hidden, in_units) = ({n}, {k}) for data of \
                     shape {} (flatten={})",
                    sh(&i[1].shape),
                    sh(&i[0].shape),
                    if self.flatten { "True" } else { "False" }
                ),
            ));
        }
        if !self.no_bias && i[2].shape.as_slice() != [n] {
            return Err(Error::shape(
                OP,
                format!(
                    "bias has shape {}, expected ({n},) (num_hidden)",
                    sh(&i[2].shape)
                ),
            ));
        }
        check_float(OP, "data", i[0].dtype)?;
        for (m, what) in i[1..].iter().zip(["weight", "bias"]) {
            if m.dtype != i[0].dtype {
                return Err(Error::dtype(
                    OP,
                    format!("{what} is {} but data is {}", m.dtype, i[0].dtype),
                ));
            }
        }
        Ok((rows, k, out))
    }
}

/// `o = f(o + b)` for each row `o` of `out` (rows of `n`).
fn bias_act<T: Real + Send + Sync>(
    out: &mut [T],
    n: usize,
    bias: Option<&[T]>,
    f: impl Fn(T) -> T + Sync,
) {
    if n == 0 {
        return;
    }
    let row = |o: &mut [T]| match bias {
        Some(b) => o.iter_mut().zip(b).for_each(|(o, &b)| *o = f(*o + b)),
        None => o.iter_mut().for_each(|o| *o = f(*o)),
    };
    if cpu::parallel(out.len()) {
        out.par_chunks_mut(n).for_each(row);
    } else {
        out.chunks_mut(n).for_each(row);
    }
}

/// `out (rows x n) = act(x (rows x k) W^T + b)`. W^T is W read with its strides swapped.
fn fc_kernel<T: GemmElem + Real + CpuElement>(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    (rows, k, n): (usize, usize, usize),
    act: Option<Act>,
) -> Result<Vec<T>> {
    const OP: &str = "FullyConnected";
    let mut out = vec![T::zero(); rows * n];
    // 2-D data is read through its strides; other shapes are made contiguous first.
    let xc = x.cast_to(T::DTYPE)?;
    let xc = if xc.ndim() == 2 { xc } else { xc.contiguous()? };
    let (xrs, xcs) = if xc.ndim() == 2 {
        (xc.layout().strides[0], xc.layout().strides[1])
    } else {
        (k as isize, 1)
    };
    let wc = w.cast_to(T::DTYPE)?;
    {
        let (sx, sw) = (xc.storage()?, wc.storage()?);
        let a = MatRef {
            data: T::slice(sx.cpu(OP)?),
            offsets: vec![xc.layout().offset],
            rs: xrs,
            cs: xcs,
        };
        let wl = wc.layout();
        let bt = MatRef {
            data: T::slice(sw.cpu(OP)?),
            offsets: vec![wl.offset],
            rs: wl.strides[1],
            cs: wl.strides[0],
        };
        batched_gemm(rows, n, k, &a, &bt, &mut out)?;
    }
    // The activation is fixed outside the element loop, so each loop is specialised to it.
    let mut finish = |bias: Option<&[T]>| -> Result<()> {
        match act {
            None if bias.is_none() => {}
            None => bias_act(&mut out, n, bias, |v| v),
            Some(a) => with_const_act!(a, A => bias_act(&mut out, n, bias, |v| A.f(v))),
        }
        Ok(())
    };
    match b {
        Some(b) => with_slice::<T, _>(OP, b, |bs| finish(Some(bs)))?,
        None => finish(None)?,
    }
    Ok(out)
}

impl Op for FullyConnected {
    fn with_activation(&self, act: Act) -> Option<Arc<dyn Op>> {
        self.act.is_none().then(|| {
            Arc::new(FullyConnected {
                act: Some(act),
                ..self.clone()
            }) as Arc<dyn Op>
        })
    }
    fn name(&self) -> &'static str {
        "fully_connected"
    }
    fn mxnet_name(&self) -> &'static str {
        "FullyConnected"
    }
    fn attrs(&self) -> Attrs {
        let a = Attrs::new()
            .with("num_hidden", Attr::Int(self.num_hidden as i64))
            .with("no_bias", Attr::Bool(self.no_bias))
            .with("flatten", Attr::Bool(self.flatten));
        match self.act {
            Some(act) => a.with("act_type", Attr::Str(act.name().into())),
            None => a,
        }
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let (_, _, out) = self.check(i)?;
        Ok(vec![Meta::new(out, i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let (rows, k, shape) = self.check(&metas)?;
        let dims = (rows, k, self.num_hidden);
        let b = x.get(2);
        let t = if work_dtype(x[0].dtype()) == DType::F64 {
            Tensor::from_vec(fc_kernel::<f64>(&x[0], &x[1], b, dims, self.act)?, &shape)?
        } else {
            Tensor::from_vec(fc_kernel::<f32>(&x[0], &x[1], b, dims, self.act)?, &shape)?
        };
        Ok(vec![t.cast_to(x[0].dtype())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let (x, w) = (ctx.input(0), ctx.input(1));
        let metas: Vec<Meta> = ctx.inputs.iter().map(Meta::of).collect();
        let (rows, k, _) = self.check(&metas)?;
        let n = self.num_hidden;
        let dz = match self.act {
            Some(a) => act_grad(a, &g, &ctx.output(0)?)?,
            None => g,
        };
        let dz = dz.reshape(&[rows, n])?;
        // dx = dz W, dW = dz^T x (a transposed view: the GEMM reads its strides), db = sum dz.
        let dx = match ctx.needs_grad(0) {
            true => Some(dz.matmul(w)?.reshape(x.shape())?),
            false => None,
        };
        let dw = match ctx.needs_grad(1) {
            true => Some(dz.transpose(None)?.matmul(&x.reshape(&[rows, k])?)?),
            false => None,
        };
        let mut out = vec![dx, dw];
        if !self.no_bias && ctx.needs_grad(2) {
            out.push(Some(dz.sum_axes(&[0], false)?));
        }
        Ok(out)
    }
}

fn fc_builder(a: &Attrs) -> Result<Arc<dyn Op>> {
    const OP: &str = "FullyConnected";
    let n = a.req_int(OP, "num_hidden")?;
    if n < 1 {
        return Err(Error::value(
            OP,
            format!("num_hidden must be positive, got {n}"),
        ));
    }
    let act = match a.opt_str("act_type") {
        None => None,
        Some(s) => {
            let act = Act::from_name(OP, &s)?;
            if !act.from_output() {
                return Err(Error::value(
                    OP,
                    format!(
                        "act_type {s:?} cannot be fused (its gradient needs the input): apply \
                         npx.activation to the output instead"
                    ),
                ));
            }
            Some(act)
        }
    };
    Ok(Arc::new(FullyConnected {
        num_hidden: n as usize,
        no_bias: a.bool(OP, "no_bias", false)?,
        flatten: a.bool(OP, "flatten", true)?,
        act,
    }))
}

// ---------------------------------------------------------------------------------------------
// Embedding

/// `Embedding(data, weight, input_dim, output_dim, dtype)`: rows of `weight` picked by `data`
/// (float or integer indices, truncated, then clipped to `[0, input_dim)` as MXNet does).
#[derive(Clone, Debug)]
pub struct Embedding {
    pub input_dim: usize,
    pub output_dim: usize,
    pub dtype: DType,
}

impl Embedding {
    fn check_weight(&self, w: &[usize]) -> Result<()> {
        if w != [self.input_dim, self.output_dim] {
            return Err(Error::shape(
                "Embedding",
                format!(
                    "weight has shape {}, expected (input_dim, output_dim) = ({}, {})",
                    sh(w),
                    self.input_dim,
                    self.output_dim
                ),
            ));
        }
        Ok(())
    }
    fn out_shape(&self, data: &[usize]) -> Vec<usize> {
        let mut s = data.to_vec();
        s.push(self.output_dim);
        s
    }
    /// The row of each index.
    fn rows(&self, data: &Tensor) -> Result<Vec<usize>> {
        let top = self.input_dim.saturating_sub(1) as f64;
        Ok(data
            .to_f64_vec()?
            .into_iter()
            .map(|v| {
                if v.is_nan() {
                    0
                } else {
                    v.trunc().clamp(0.0, top) as usize
                }
            })
            .collect())
    }
}

impl Op for Embedding {
    fn name(&self) -> &'static str {
        "embedding"
    }
    fn mxnet_name(&self) -> &'static str {
        "Embedding"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("input_dim", Attr::Int(self.input_dim as i64))
            .with("output_dim", Attr::Int(self.output_dim as i64))
            .with("dtype", Attr::Str(self.dtype.name().into()))
            .with("sparse_grad", Attr::Bool(false))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        if i.len() != 2 {
            return Err(Error::value(
                "Embedding",
                format!("expected 2 inputs (data, weight), got {}", i.len()),
            ));
        }
        self.check_weight(&i[1].shape)?;
        Ok(vec![Meta::new(self.out_shape(&i[0].shape), i[1].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        self.check_weight(x[1].shape())?;
        let rows = self.rows(&x[0])?;
        let d = self.output_dim;
        let w = &x[1];
        let data = with_dtype!(w.dtype(), T, {
            with_slice::<T, _>("Embedding", w, |ws| {
                let mut out = Vec::with_capacity(rows.len() * d);
                for &r in &rows {
                    out.extend_from_slice(&ws[r * d..(r + 1) * d]);
                }
                Ok(T::wrap(out))
            })?
        });
        Ok(vec![Tensor::from_cpu(data, &self.out_shape(x[0].shape()))?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let dw = apply1(Arc::new(EmbeddingGrad(self.clone())), &[ctx.input(0), &g])?;
        Ok(vec![None, Some(dw.cast(ctx.input(1).dtype())?)])
    }
}

/// The weight gradient of `Embedding` from (data, output gradient): each row of the gradient is
/// added into the weight row it was read from, so repeated indices add up.
pub struct EmbeddingGrad(pub Embedding);

impl Op for EmbeddingGrad {
    fn name(&self) -> &'static str {
        "_backward_Embedding"
    }
    fn attrs(&self) -> Attrs {
        self.0.attrs()
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(
            vec![self.0.input_dim, self.0.output_dim],
            i[1].dtype,
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let e = &self.0;
        let want = e.out_shape(x[0].shape());
        if x[1].shape() != &want {
            return Err(Error::shape(
                "Embedding",
                format!(
                    "gradient has shape {}, expected {}",
                    sh(x[1].shape()),
                    sh(&want)
                ),
            ));
        }
        let rows = e.rows(&x[0])?;
        let d = e.output_dim;
        let ct = work_dtype(x[1].dtype());
        fn add<T: Real + CpuElement>(
            g: &Tensor,
            rows: &[usize],
            n: usize,
            d: usize,
        ) -> Result<Tensor> {
            let mut out = vec![T::zero(); n * d];
            with_slice::<T, _>("Embedding", g, |gs| {
                for (i, &r) in rows.iter().enumerate() {
                    for (o, &v) in out[r * d..(r + 1) * d]
                        .iter_mut()
                        .zip(&gs[i * d..(i + 1) * d])
                    {
                        *o = *o + v;
                    }
                }
                Ok(())
            })?;
            Tensor::from_vec(out, &[n, d])
        }
        let t = if ct == DType::F64 {
            add::<f64>(&x[1], &rows, e.input_dim, d)?
        } else {
            add::<f32>(&x[1], &rows, e.input_dim, d)?
        };
        Ok(vec![t.cast_to(x[1].dtype())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        // Linear in the output gradient: its own gradient is the forward gather.
        let h = g[0].clone().expect("single output");
        let dg = apply1(Arc::new(self.0.clone()), &[ctx.input(0), &h])?;
        Ok(vec![None, Some(dg)])
    }
}

fn embedding_builder(a: &Attrs) -> Result<Arc<dyn Op>> {
    const OP: &str = "Embedding";
    if a.bool(OP, "sparse_grad", false)? {
        return Err(Error::Unsupported(
            "Embedding: sparse_grad=True (row_sparse gradients) is not supported; use sparse_grad=False"
                .into(),
        ));
    }
    let dim = |k: &str| -> Result<usize> {
        let v = a.req_int(OP, k)?;
        if v < 1 {
            return Err(Error::value(OP, format!("{k} must be positive, got {v}")));
        }
        Ok(v as usize)
    };
    Ok(Arc::new(Embedding {
        input_dim: dim("input_dim")?,
        output_dim: dim("output_dim")?,
        dtype: a.opt_dtype(OP, "dtype")?.unwrap_or(DType::F32),
    }))
}

// ---------------------------------------------------------------------------------------------
// Dropout

/// `Dropout(data, p=0.5, mode='training', axes=())`. Whether it is active (autograd training mode,
/// or mode='always') and the random key are fixed when the op is made, so the backward pass (the
/// same op on the gradient: dropout is linear) uses the same mask.
#[derive(Clone, Debug)]
pub struct Dropout {
    pub p: f64,
    pub always: bool,
    pub axes: Vec<i64>,
    /// The mask's key; None when inactive (inference): then the output is a copy of the input.
    pub key: Option<u64>,
}

impl Op for Dropout {
    fn fresh(&self) -> Option<Arc<dyn Op>> {
        self.key.map(|_| {
            Arc::new(Dropout {
                key: Some(random::next_key()),
                ..self.clone()
            }) as Arc<dyn Op>
        })
    }
    fn name(&self) -> &'static str {
        "dropout"
    }
    fn mxnet_name(&self) -> &'static str {
        "Dropout"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("p", Attr::Float(self.p))
            .with(
                "mode",
                Attr::Str(if self.always { "always" } else { "training" }.into()),
            )
            .with("axes", Attr::Ints(self.axes.clone()))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        check_float("Dropout", "data", i[0].dtype)?;
        for &a in &self.axes {
            norm_axis("Dropout", a as isize, i[0].shape.len())?;
        }
        Ok(vec![i[0].clone()])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let x = &x[0];
        self.infer(&[Meta::of(x)])?;
        let Some(key) = self.key.filter(|_| self.p > 0.0) else {
            return Ok(vec![Tensor::from_cpu(x.to_cpu_storage()?, x.shape())?]);
        };
        // The mask has size 1 along the shared axes and is broadcast over them.
        let mut ms = x.shape().to_vec();
        let nd = ms.len();
        for &a in &self.axes {
            ms[norm_axis("Dropout", a as isize, nd)?] = 1;
        }
        let stream = random::Stream::with_key(key);
        let scale = if self.p >= 1.0 {
            0.0
        } else {
            1.0 / (1.0 - self.p)
        };
        let p = self.p;
        let ct = work_dtype(x.dtype());
        let xc = x.cast_to(ct)?;
        let ml = crate::layout::Layout::contiguous(&ms);
        let st = xc.storage()?;
        let data = crate::with_float_dtype!(
            ct,
            T,
            {
                let keep = |i: usize| {
                    if stream.uniform(i as u64) < p {
                        <T as crate::Element>::zero()
                    } else {
                        <T as crate::Element>::from_f64(scale)
                    }
                };
                let mask: Vec<T> = (0..numel(&ms)).map(keep).collect();
                T::wrap(cpu::zip_view(
                    T::slice(st.cpu("Dropout")?),
                    xc.layout(),
                    &mask,
                    &ml,
                    x.shape(),
                    |v: T, m: T| v * m,
                ))
            },
            unreachable!("work dtype is a float")
        );
        Ok(vec![Tensor::from_cpu(data, x.shape())?.cast_to(x.dtype())?])
    }
    fn backward(&self, _ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        Ok(vec![Some(apply1(Arc::new(self.clone()), &[&g])?)])
    }
}

fn dropout_builder(a: &Attrs) -> Result<Arc<dyn Op>> {
    const OP: &str = "Dropout";
    let p = a.float(OP, "p", 0.5)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::value(OP, format!("p must be in [0, 1], got {p}")));
    }
    let always = match a.str("mode", "training").as_str() {
        "training" => false,
        "always" => true,
        m => {
            return Err(Error::value(
                OP,
                format!("mode must be 'training' or 'always', not {m:?}"),
            ))
        }
    };
    let active = always || autograd::is_training();
    Ok(Arc::new(Dropout {
        p,
        always,
        axes: a.ints(OP, "axes", &[])?,
        key: active.then(random::next_key),
    }))
}

pub fn register(r: &mut Registry) {
    for n in ["fully_connected", "FullyConnected", "_npx_fully_connected"] {
        r.insert(n, fc_builder);
    }
    for n in ["embedding", "Embedding", "_npx_embedding"] {
        r.insert(n, embedding_builder);
    }
    for n in ["dropout", "Dropout", "_npx_dropout"] {
        r.insert(n, dropout_builder);
    }
}
