//! Normalisation ops: `BatchNorm`, `LayerNorm`, `GroupNorm` and `InstanceNorm`, one definition.
//!
//! Each views the data as (p, m, q) and normalises either each line (p, q) over m (layer, group and
//! instance norm) or each channel m over (p, q) (batch norm), then scales and shifts by a per-channel
//! gamma and beta, in one fused pass (statistics accumulated in float64). The backward rules are
//! written with tensor ops from the inputs (the statistics are recomputed), so higher-order
//! gradients work and the running statistics are never touched twice.
use super::elementwise::Bin;
use super::layers::{check_float, sh, with_slice, work_dtype};
use super::nn::for_blocks;
use super::{Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::autograd;
use crate::backend::cpu::num::Real;
use crate::layout::{norm_axis, numel};
use crate::storage::CpuElement;
use crate::{DType, Error, Result, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    Batch,
    Layer,
    Instance,
    Group(usize),
}

/// One normalisation op. `axis` is BatchNorm's channel axis or LayerNorm's normalised axis.
#[derive(Clone, Debug)]
pub struct Norm {
    pub kind: NormKind,
    pub axis: i64,
    pub eps: f64,
    pub output_mean_var: bool,
    /// BatchNorm only.
    pub momentum: f64,
    pub fix_gamma: bool,
    pub use_global_stats: bool,
    /// Whether BatchNorm was made in training mode (autograd.is_training()).
    pub training: bool,
    /// BatchNorm's fused ReLU (our `act_type='relu'`).
    pub relu: bool,
    pub bn_extra: Attrs,
}

/// Where the data's elements go: the data viewed as (p, m, q), and how a (p, m) maps to a channel.
#[derive(Clone, Copy, Debug)]
struct Geo {
    p: usize,
    m: usize,
    q: usize,
    /// Statistics per line (p, q) over m; otherwise per m over (p, q).
    per_line: bool,
    /// The channel axis of the data (gamma's axis) and the channel count.
    caxis: usize,
    c: usize,
    /// Group norm: groups, and the size of one channel's spatial block.
    groups: usize,
    spatial: usize,
}

impl Geo {
    fn stat_groups(&self) -> usize {
        if self.per_line {
            self.p * self.q
        } else {
            self.m
        }
    }
    #[inline(always)]
    fn channel(&self, kind: NormKind, pp: usize, mm: usize) -> usize {
        match kind {
            NormKind::Batch | NormKind::Layer => mm,
            NormKind::Instance => pp % self.c,
            NormKind::Group(g) => (pp % g) * (self.c / g) + mm / self.spatial,
        }
    }
}

impl Norm {
    fn op(&self) -> &'static str {
        match self.kind {
            NormKind::Batch => "BatchNorm",
            NormKind::Layer => "LayerNorm",
            NormKind::Instance => "InstanceNorm",
            NormKind::Group(_) => "GroupNorm",
        }
    }
    /// Batch statistics (always, except BatchNorm in inference or with use_global_stats).
    fn batch_stats(&self) -> bool {
        self.kind != NormKind::Batch || (self.training && !self.use_global_stats)
    }
    fn n_inputs(&self) -> usize {
        if self.kind == NormKind::Batch {
            5
        } else {
            3
        }
    }

    fn geo(&self, x: &[usize]) -> Result<Geo> {
        let op = self.op();
        let nd = x.len();
        let split = |a: usize| (numel(&x[..a]), x[a], numel(&x[a + 1..]));
        Ok(match self.kind {
            NormKind::Batch | NormKind::Layer => {
                if nd == 0 {
                    return Err(Error::shape(op, "data must have at least one dimension"));
                }
                let a = norm_axis(op, self.axis as isize, nd)?;
                let (p, m, q) = split(a);
                Geo {
                    p,
                    m,
                    q,
                    per_line: self.kind == NormKind::Layer,
                    caxis: a,
                    c: m,
                    groups: 1,
                    spatial: 1,
                }
            }
            NormKind::Instance | NormKind::Group(_) => {
                if nd < 2 {
                    return Err(Error::shape(
                        op,
                        format!(
                            "data of shape {} needs at least 2 dimensions (batch, channel, ...)",
                            sh(x)
                        ),
                    ));
                }
                let (n, c, s) = (x[0], x[1], numel(&x[2..]));
                let g = match self.kind {
                    NormKind::Group(g) => g,
                    _ => c,
                };
                if g == 0 || c % g != 0 {
                    return Err(Error::value(
                        op,
                        format!(
                            "num_groups={g} must divide the {c} channels of data {}",
                            sh(x)
                        ),
                    ));
                }
                Geo {
                    p: n * g,
                    m: c / g * s,
                    q: 1,
                    per_line: true,
                    caxis: 1,
                    c,
                    groups: g,
                    spatial: s,
                }
            }
        })
    }

    /// Shapes of the mean and std (inverse std for BatchNorm) outputs.
    fn stat_shape(&self, x: &[usize], geo: &Geo) -> Vec<usize> {
        match self.kind {
            NormKind::Batch => vec![geo.c],
            NormKind::Layer => {
                let mut s = x.to_vec();
                s[geo.caxis] = 1;
                s
            }
            NormKind::Instance | NormKind::Group(_) => {
                let mut s = vec![1; x.len()];
                s[0] = x[0];
                s[1] = geo.groups;
                s
            }
        }
    }

    fn check(&self, i: &[Meta]) -> Result<Geo> {
        let op = self.op();
        let want = self.n_inputs();
        if i.len() != want {
            let names = if want == 5 {
                "data, gamma, beta, running_mean, running_var"
            } else {
                "data, gamma, beta"
            };
            return Err(Error::value(
                op,
                format!("expected {want} inputs ({names}), got {}", i.len()),
            ));
        }
        check_float(op, "data", i[0].dtype)?;
        let geo = self.geo(&i[0].shape)?;
        let names = ["gamma", "beta", "running_mean", "running_var"];
        for (m, name) in i[1..].iter().zip(names) {
            if m.shape.as_slice() != [geo.c] {
                return Err(Error::shape(
                    op,
                    format!(
                        "{name} has shape {}, expected ({},) (one per channel of axis {} of data {})",
                        sh(&m.shape),
                        geo.c,
                        geo.caxis,
                        sh(&i[0].shape)
                    ),
                ));
            }
            check_float(op, name, m.dtype)?;
        }
        Ok(geo)
    }
}

/// Statistics of group `k` (mean, biased variance) in float64.
fn group_stats<T: Real>(x: &[T], geo: &Geo, k: usize) -> (f64, f64) {
    let (m, q) = (geo.m, geo.q);
    let mut sum = 0.0;
    let mut sq = 0.0;
    let mut n = 0usize;
    let each = |f: &mut dyn FnMut(f64)| {
        if geo.per_line {
            let (pp, qq) = (k / q, k % q);
            for mm in 0..m {
                f(x[(pp * m + mm) * q + qq].f());
            }
        } else {
            for pp in 0..geo.p {
                let base = (pp * m + k) * q;
                for v in &x[base..base + q] {
                    f(v.f());
                }
            }
        }
    };
    each(&mut |v| {
        sum += v;
        n += 1;
    });
    let mean = if n > 0 { sum / n as f64 } else { 0.0 };
    each(&mut |v| sq += (v - mean) * (v - mean));
    (mean, if n > 0 { sq / n as f64 } else { 0.0 })
}

struct Fwd<T> {
    y: Vec<T>,
    mean: Vec<f64>,
    inv: Vec<f64>,
    var: Vec<f64>,
}

fn norm_kernel<T: Real + CpuElement>(
    n: &Norm,
    geo: &Geo,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running: Option<(&Tensor, &Tensor)>,
) -> Result<Fwd<T>> {
    let op = n.op();
    let groups = geo.stat_groups();
    let (mean, inv, var): (Vec<f64>, Vec<f64>, Vec<f64>) = match running {
        Some((rm, rv)) => {
            let (rm, rv) = (rm.to_f64_vec()?, rv.to_f64_vec()?);
            let inv = rv.iter().map(|v| 1.0 / (v + n.eps).sqrt()).collect();
            (rm, inv, rv)
        }
        None => with_slice::<T, _>(op, x, |xs| {
            let st = |k| group_stats(xs, geo, k);
            let s: Vec<(f64, f64)> = if crate::backend::cpu::parallel(xs.len()) {
                (0..groups).into_par_iter().map(st).collect()
            } else {
                (0..groups).map(st).collect()
            };
            Ok((
                s.iter().map(|&(m, _)| m).collect(),
                s.iter().map(|&(_, v)| 1.0 / (v + n.eps).sqrt()).collect(),
                s.iter().map(|&(_, v)| v).collect(),
            ))
        })?,
    };
    let gamma = if n.kind == NormKind::Batch && n.fix_gamma {
        vec![1.0; geo.c]
    } else {
        gamma.to_f64_vec()?
    };
    let beta = beta.to_f64_vec()?;
    let (m, q) = (geo.m, geo.q);
    let mut y = vec![T::zero(); geo.p * m * q];
    let kind = n.kind;
    let relu = n.relu;
    let zero = T::zero();
    with_slice::<T, _>(op, x, |xs| {
        for_blocks(&mut y, m * q, |pp, blk| {
            let xb = &xs[pp * m * q..(pp + 1) * m * q];
            for (mm, (row, xr)) in blk.chunks_mut(q).zip(xb.chunks(q)).enumerate() {
                let c = geo.channel(kind, pp, mm);
                if geo.per_line {
                    for (qq, (o, &v)) in row.iter_mut().zip(xr).enumerate() {
                        let k = pp * q + qq;
                        let v = (v.f() - mean[k]) * inv[k] * gamma[c] + beta[c];
                        *o = T::from_f(if relu && !(v > 0.0) { 0.0 } else { v });
                    }
                } else {
                    // One statistic for the whole row: y = x * a + b, in T (a vector loop).
                    let a = inv[mm] * gamma[c];
                    let (a, b) = (T::from_f(a), T::from_f(beta[c] - mean[mm] * a));
                    if relu {
                        row.iter_mut().zip(xr).for_each(|(o, &v)| {
                            let v = v * a + b;
                            *o = if v > zero { v } else { zero };
                        });
                    } else {
                        row.iter_mut().zip(xr).for_each(|(o, &v)| *o = v * a + b);
                    }
                }
            }
        });
        Ok(())
    })?;
    Ok(Fwd { y, mean, inv, var })
}

impl Op for Norm {
    fn name(&self) -> &'static str {
        match self.kind {
            NormKind::Batch => "batch_norm",
            NormKind::Layer => "layer_norm",
            NormKind::Instance => "instance_norm",
            NormKind::Group(_) => "group_norm",
        }
    }
    fn mxnet_name(&self) -> &'static str {
        self.op()
    }
    fn aux_inputs(&self) -> &'static [usize] {
        match self.kind {
            NormKind::Batch => &[3, 4],
            _ => &[],
        }
    }
    fn attrs(&self) -> Attrs {
        let a = Attrs::new().with("eps", Attr::Float(self.eps));
        match self.kind {
            NormKind::Batch => {
                let mut a = a
                    .with("momentum", Attr::Float(self.momentum))
                    .with("fix_gamma", Attr::Bool(self.fix_gamma))
                    .with("use_global_stats", Attr::Bool(self.use_global_stats))
                    .with("output_mean_var", Attr::Bool(self.output_mean_var))
                    .with("axis", Attr::Int(self.axis));
                for (k, v) in &self.bn_extra.0 {
                    a.set(k, v.clone());
                }
                if self.relu {
                    a.set("act_type", Attr::Str("relu".into()));
                }
                a
            }
            NormKind::Layer => a
                .with("axis", Attr::Int(self.axis))
                .with("output_mean_var", Attr::Bool(self.output_mean_var)),
            NormKind::Group(g) => a
                .with("num_groups", Attr::Int(g as i64))
                .with("output_mean_var", Attr::Bool(self.output_mean_var)),
            NormKind::Instance => a,
        }
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let geo = self.check(i)?;
        let mut out = vec![i[0].clone()];
        if self.output_mean_var {
            let s = self.stat_shape(&i[0].shape, &geo);
            let d = if self.kind == NormKind::Batch {
                i[1].dtype
            } else {
                i[0].dtype
            };
            out.push(Meta::new(s.clone(), d));
            out.push(Meta::new(s, d));
        }
        Ok(out)
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let out_meta = self.infer(&metas)?;
        let geo = self.check(&metas)?;
        let running = if self.batch_stats() {
            None
        } else {
            Some((&x[3], &x[4]))
        };
        let ct = work_dtype(x[0].dtype());
        let (y, mean, inv, var) = if ct == DType::F64 {
            let f = norm_kernel::<f64>(self, &geo, &x[0], &x[1], &x[2], running)?;
            (Tensor::from_vec(f.y, x[0].shape())?, f.mean, f.inv, f.var)
        } else {
            let f = norm_kernel::<f32>(self, &geo, &x[0], &x[1], &x[2], running)?;
            (Tensor::from_vec(f.y, x[0].shape())?, f.mean, f.inv, f.var)
        };
        if self.kind == NormKind::Batch && self.batch_stats() {
            // running = running * momentum + batch * (1 - momentum), biased batch variance,
            // written into the caller's arrays.
            let mo = self.momentum;
            for (r, b) in [(&x[3], &mean), (&x[4], &var)] {
                let new: Vec<f64> = r
                    .to_f64_vec()?
                    .iter()
                    .zip(b.iter())
                    .map(|(r, b)| r * mo + b * (1.0 - mo))
                    .collect();
                r.write_from(&Tensor::from_vec(new, &[geo.c])?)?;
            }
        }
        let mut outs = vec![y.cast_to(x[0].dtype())?];
        if self.output_mean_var {
            // BatchNorm returns the inverse std (as MXNet documents), the others the std.
            let second: Vec<f64> = if self.kind == NormKind::Batch {
                inv
            } else {
                inv.iter().map(|i| 1.0 / i).collect()
            };
            for (v, m) in [mean, second].into_iter().zip(&out_meta[1..]) {
                outs.push(Tensor::from_vec(v, &m.shape)?.cast_to(m.dtype)?);
            }
        }
        Ok(outs)
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let x = ctx.input(0);
        let (gamma, beta) = (ctx.input(1), ctx.input(2));
        let Some(g) = g[0].clone() else {
            return Err(Error::Unsupported(format!(
                "{}: gradients through the mean/std outputs are not supported",
                self.op()
            )));
        };
        let geo = self.geo(x.shape())?;
        let xshape = x.shape().clone();
        let nd = xshape.len();
        let sc = |t: &Tensor, op: Bin, v: f64| t.scalar_op(op, v, false);
        // The statistics view of the data and its reduced axes.
        let (xs, axes): (Tensor, Vec<isize>) = match self.kind {
            NormKind::Batch => (
                x.clone(),
                (0..nd as isize)
                    .filter(|&a| a != geo.caxis as isize)
                    .collect(),
            ),
            NormKind::Layer => (x.clone(), vec![geo.caxis as isize]),
            NormKind::Instance | NormKind::Group(_) => {
                (x.reshape(&[xshape[0], geo.groups, geo.m])?, vec![2])
            }
        };
        let cnt: usize = axes.iter().map(|&a| xs.shape()[a as usize]).product();
        let mean = |t: &Tensor| sc(&t.sum_axes(&axes, true)?, Bin::Mul, 1.0 / cnt.max(1) as f64);
        let mut cshape = vec![1; nd];
        cshape[geo.caxis] = geo.c;
        let per_channel = |t: &Tensor| t.cast(x.dtype())?.reshape(&cshape);
        let rsqrt = |v: &Tensor| sc(&sc(v, Bin::Add, self.eps)?, Bin::Pow, -0.5);
        let (xhat_s, inv) = if self.batch_stats() {
            let xc = xs.sub(&mean(&xs)?)?;
            let inv = rsqrt(&mean(&xc.mul(&xc)?)?)?;
            (xc.mul(&inv)?, inv)
        } else {
            let inv = rsqrt(&per_channel(ctx.input(4))?)?;
            (x.sub(&per_channel(ctx.input(3))?)?.mul(&inv)?, inv)
        };
        let xhat = xhat_s.reshape(&xshape)?;
        let gam = if self.kind == NormKind::Batch && self.fix_gamma {
            None
        } else {
            Some(per_channel(gamma)?)
        };
        let gy = if self.relu {
            let pre = match &gam {
                Some(gm) => xhat.mul(gm)?,
                None => xhat.clone(),
            }
            .add(&per_channel(beta)?)?;
            g.mul(&sc(&pre, Bin::Gt, 0.0)?.cast(g.dtype())?)?
        } else {
            g
        };
        let gxh = match &gam {
            Some(gm) => gy.mul(gm)?,
            None => gy.clone(),
        };
        let dx = if self.batch_stats() {
            let gs = gxh.reshape(xs.shape())?;
            let proj = xhat_s.mul(&mean(&gs.mul(&xhat_s)?)?)?;
            gs.sub(&mean(&gs)?)?
                .sub(&proj)?
                .mul(&inv)?
                .reshape(&xshape)?
        } else {
            gxh.mul(&inv)?
        };
        let caxes: Vec<isize> = (0..nd as isize)
            .filter(|&a| a != geo.caxis as isize)
            .collect();
        let dgamma = if gam.is_none() {
            gamma.zeros_like()?
        } else {
            gy.mul(&xhat)?
                .sum_axes(&caxes, false)?
                .cast(gamma.dtype())?
        };
        let dbeta = gy.sum_axes(&caxes, false)?.cast(beta.dtype())?;
        let mut out = vec![Some(dx.cast(x.dtype())?), Some(dgamma), Some(dbeta)];
        if self.kind == NormKind::Batch {
            out.extend([None, None]);
        }
        Ok(out)
    }
}

fn builder(kind: NormKind, a: &Attrs) -> Result<Arc<dyn Op>> {
    let op = match kind {
        NormKind::Batch => "BatchNorm",
        NormKind::Layer => "LayerNorm",
        NormKind::Instance => "InstanceNorm",
        NormKind::Group(_) => "GroupNorm",
    };
    let kind = match kind {
        NormKind::Group(_) => {
            let g = a.int(op, "num_groups", 1)?;
            if g < 1 {
                return Err(Error::value(
                    op,
                    format!("num_groups must be positive, got {g}"),
                ));
            }
            NormKind::Group(g as usize)
        }
        k => k,
    };
    let (axis, eps) = match kind {
        NormKind::Batch => (a.int(op, "axis", 1)?, a.float(op, "eps", 1e-3)?),
        NormKind::Layer => (a.int(op, "axis", -1)?, a.float(op, "eps", 1e-5)?),
        NormKind::Group(_) => (1, a.float(op, "eps", 1e-5)?),
        NormKind::Instance => (1, a.float(op, "eps", 1e-3)?),
    };
    if eps.is_nan() || eps < 0.0 {
        return Err(Error::value(op, format!("eps must be >= 0, got {eps}")));
    }
    let relu = match a.opt_str("act_type").as_deref() {
        None => false,
        Some("relu") if kind == NormKind::Batch => true,
        Some(s) => {
            return Err(Error::value(
                op,
                format!("act_type {s:?} is not supported (BatchNorm fuses only 'relu')"),
            ))
        }
    };
    let mut bn_extra = Attrs::new();
    if kind == NormKind::Batch {
        bn_extra.set("cudnn_off", Attr::Bool(a.bool(op, "cudnn_off", false)?));
        for k in ["min_calib_range", "max_calib_range"] {
            if let Some(v) = a.opt_float(op, k)? {
                bn_extra.set(k, Attr::Float(v));
            }
        }
    }
    Ok(Arc::new(Norm {
        kind,
        axis,
        eps,
        output_mean_var: a.bool(op, "output_mean_var", false)?,
        momentum: a.float(op, "momentum", 0.9)?,
        fix_gamma: kind == NormKind::Batch && a.bool(op, "fix_gamma", true)?,
        use_global_stats: a.bool(op, "use_global_stats", false)?,
        training: autograd::is_training(),
        relu,
        bn_extra,
    }))
}

pub fn register(r: &mut Registry) {
    for n in ["batch_norm", "BatchNorm", "_npx_batch_norm", "BatchNorm_v1"] {
        r.insert(n, |a| builder(NormKind::Batch, a));
    }
    for n in ["layer_norm", "LayerNorm", "_npx_layer_norm"] {
        r.insert(n, |a| builder(NormKind::Layer, a));
    }
    for n in ["group_norm", "GroupNorm", "_npx_group_norm"] {
        r.insert(n, |a| builder(NormKind::Group(1), a));
    }
    for n in ["instance_norm", "InstanceNorm", "_npx_instance_norm"] {
        r.insert(n, |a| builder(NormKind::Instance, a));
    }
}
