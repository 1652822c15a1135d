//! Optimizer updates: one fused kernel per parameter update, under MXNet's operator names
//! (`sgd_update`, `adam_update`, `lamb_update_phase1`, ...) and attributes. The weight and the
//! state arrays are inputs that the op writes in place (it returns the weight handle); nothing is
//! recorded. Each kernel applies `rescale_grad`, `clip_gradient` (when >= 0) and `wd` where
//! MXNet's kernel does, which differs between optimizers.
//!
//! Multi-precision (`mp_*`): the last input is a float32 master copy of a float16 weight; the
//! kernel updates the master copy and writes it, rounded, into the weight. Every kernel has an
//! `mp_` form (MXNet has only some; the others are ours, so every optimizer can keep a master
//! copy without extra Python work).
//!
//! Kernels compute in float64 for float64 weights and in float32 otherwise. Kernels for the
//! optimizers MXNet 2.x writes as plain array code (Adamax, Nadam, AdaDelta, SGLD, DCASGD, LARS)
//! are ours: `adamax_update`, `nadam_update`, `adadelta_update`, `sgld_update`, `dcasgd_update`,
//! `lars_update`.
use super::random::Stream;
use super::{Attrs, Meta, Op, Registry};
use crate::backend::cpu::{
    self,
    num::{Num, Real},
};
use crate::storage::CpuElement;
use crate::{with_dtype, DType, Element, Error, Result, Storage, Tensor};
use rayon::prelude::*;
use std::sync::{Arc, RwLockReadGuard, RwLockWriteGuard};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Sgd,
    SgdMom,
    Nag,
    Adam,
    AdamW,
    RmsProp,
    RmsPropAlex,
    Ftrl,
    Ftml,
    SignSgd,
    Signum,
    LambPhase1,
    LambPhase2,
    AdaGrad,
    Adamax,
    Nadam,
    AdaDelta,
    Sgld,
    Dcasgd,
    Lars,
}

/// The hyper-parameters of one update (each kind reads the ones it uses).
#[derive(Clone, Debug)]
struct Hyper {
    lr: f64,
    wd: f64,
    rescale: f64,
    clip: f64,
    momentum: f64,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    rho: f64,
    clip_weights: f64,
    lamda1: f64,
    beta: f64,
    t: f64,
    bias_correction: bool,
    wd_lh: f64,
    lower_bound: f64,
    upper_bound: f64,
    eta: f64,
    lamda: f64,
    // Nadam's momentum schedule, computed by the optimizer (it is shared by all parameters).
    momentum_t: f64,
    momentum_t_1: f64,
    m_schedule: f64,
    m_schedule_next: f64,
}

impl Kind {
    /// Names of the state inputs after `weight, grad`, in MXNet's input order.
    fn states(self, h: &Hyper) -> &'static [&'static str] {
        match self {
            Kind::Sgd | Kind::SignSgd | Kind::Sgld => &[],
            Kind::SgdMom | Kind::Nag | Kind::Signum => &["mom"],
            Kind::Lars if h.momentum > 0.0 => &["mom"],
            Kind::Lars => &[],
            Kind::Adam | Kind::AdamW | Kind::LambPhase1 | Kind::Nadam => &["mean", "var"],
            Kind::Adamax => &["mean", "u"],
            Kind::RmsProp => &["var"],
            Kind::RmsPropAlex => &["mean", "var", "mom"],
            Kind::Ftrl => &["z", "n"],
            Kind::Ftml => &["d", "v", "z"],
            Kind::LambPhase2 => &["r1", "r2"],
            Kind::AdaGrad => &["history"],
            Kind::AdaDelta => &["acc_g", "acc_delta"],
            Kind::Dcasgd if h.momentum > 0.0 => &["mom", "previous_weight"],
            Kind::Dcasgd => &["previous_weight"],
        }
    }
}

pub struct Update {
    name: &'static str,
    mp: bool,
    kind: Kind,
    h: Hyper,
    attrs: Attrs,
}

/// Most arrays a kernel sees at once: weight, grad, three states, and the float16 weight.
const MAX: usize = 6;

enum Slot<'a, C> {
    R(&'a [C]),
    W(&'a mut [C]),
}

/// Runs `f(i, v)` for every element `i`: `v[k]` holds element `i` of slot `k`, and what `f`
/// leaves in a written slot is stored back. With `copy`, the master weight `v[0]` is then also
/// stored into the last slot (the float16 weight of a multi-precision update).
fn for_each<C: Real, F: Fn(usize, &mut [C; MAX]) + Sync + Copy>(
    slots: Vec<Slot<'_, C>>,
    n: usize,
    copy: bool,
    f: F,
) {
    let run = |base: usize, mut cs: Vec<Slot<'_, C>>| {
        let width = cs.len();
        let mut ptrs = [std::ptr::null_mut::<C>(); MAX];
        let mut mask = 0u8; // bit k: slot k is written
        let mut len = 0;
        for (k, s) in cs.iter_mut().enumerate() {
            (ptrs[k], len) = match s {
                Slot::R(a) => (a.as_ptr() as *mut C, a.len()),
                Slot::W(a) => {
                    mask |= 1 << k;
                    (a.as_mut_ptr(), a.len())
                }
            };
        }
        // One loop per slot count and write mask, both constants there: with a mask known only
        // at run time the per-element stores stay branches on memory (6x slower). The kernels'
        // masks: every slot but the gradient (slot 1) written, and LAMB's phase 1, which leaves
        // the weight (slot 0) alone. Any other mask runs with its bits read at run time.
        let l = len;
        match (width, mask) {
            (2, 0b1) => sweep::<C, F, 2>(base, l, ptrs, 0b1, copy, f),
            (3, 0b101) => sweep::<C, F, 3>(base, l, ptrs, 0b101, copy, f),
            (4, 0b1101) => sweep::<C, F, 4>(base, l, ptrs, 0b1101, copy, f),
            (5, 0b11101) => sweep::<C, F, 5>(base, l, ptrs, 0b11101, copy, f),
            (6, 0b111101) => sweep::<C, F, 6>(base, l, ptrs, 0b111101, copy, f),
            (5, 0b11100) => sweep::<C, F, 5>(base, l, ptrs, 0b11100, copy, f),
            (2, _) => sweep::<C, F, 2>(base, l, ptrs, mask, copy, f),
            (3, _) => sweep::<C, F, 3>(base, l, ptrs, mask, copy, f),
            (4, _) => sweep::<C, F, 4>(base, l, ptrs, mask, copy, f),
            (5, _) => sweep::<C, F, 5>(base, l, ptrs, mask, copy, f),
            _ => sweep::<C, F, MAX>(base, l, ptrs, mask, copy, f),
        }
        drop(cs);
    };
    if !cpu::parallel(n) {
        run(0, slots);
        return;
    }
    const CHUNK: usize = 4096;
    let width = slots.len();
    let mut chunks: Vec<Vec<Slot<'_, C>>> = (0..n.div_ceil(CHUNK))
        .map(|_| Vec::with_capacity(width))
        .collect();
    for s in slots {
        match s {
            Slot::R(a) => {
                for (k, c) in a.chunks(CHUNK).enumerate() {
                    chunks[k].push(Slot::R(c));
                }
            }
            Slot::W(a) => {
                for (k, c) in a.chunks_mut(CHUNK).enumerate() {
                    chunks[k].push(Slot::W(c));
                }
            }
        }
    }
    chunks
        .into_par_iter()
        .enumerate()
        .for_each(|(k, cs)| run(k * CHUNK, cs));
}

/// The element loop of `for_each` over `W` slots of `len` elements each. Every index into `v`
/// is a constant here and in the kernels, so `v` lives in registers; the kernel comes by value,
/// so that its captured constants cannot alias the stores and stay in registers too.
#[inline(always)]
fn sweep<C: Real, F: Fn(usize, &mut [C; MAX]), const W: usize>(
    base: usize,
    len: usize,
    ptrs: [*mut C; MAX],
    mask: u8,
    copy: bool,
    f: F,
) {
    for j in 0..len {
        let mut v = [C::zero(); MAX];
        for k in 0..W {
            // SAFETY: slot k is a live slice of `len` elements (borrowed by the caller's `cs`);
            // slots never alias: `fused` copies any array that shares storage with another.
            v[k] = unsafe { *ptrs[k].add(j) };
        }
        f(base + j, &mut v);
        if copy {
            v[W - 1] = v[0];
        }
        for k in 0..W {
            if mask & (1 << k) != 0 {
                // SAFETY: as above; written slots come from `&mut` slices.
                unsafe { *ptrs[k].add(j) = v[k] };
            }
        }
    }
}

/// A contiguous copy of a view converted to the compute type.
fn to_compute<C: Real>(op: &str, t: &Tensor) -> Result<Vec<C>> {
    let st = t.storage()?;
    with_dtype!(t.dtype(), T, {
        Ok(cpu::map_view(T::slice(st.cpu(op)?), t.layout(), |x: T| {
            C::from_f(x.to_f64())
        }))
    })
}

/// Store `v` into a contiguous tensor of another dtype.
fn write_back<C: Real>(op: &str, t: &Tensor, v: &[C]) -> Result<()> {
    let off = t.layout().offset;
    let mut st = t.storage_mut()?;
    with_dtype!(t.dtype(), T, {
        let d = &mut T::slice_mut(st.cpu_mut(op)?)[off..off + v.len()];
        for (o, &x) in d.iter_mut().zip(v) {
            *o = T::from_f64(x.f());
        }
    });
    Ok(())
}

/// Sum of squares of all elements, in float64.
fn sum_sq(op: &str, t: &Tensor) -> Result<f64> {
    let st = t.storage()?;
    with_dtype!(t.dtype(), T, {
        Ok(cpu::with_contiguous(
            T::slice(st.cpu(op)?),
            t.layout(),
            |s| {
                let sq = |x: &T| {
                    let f = x.to_f64();
                    f * f
                };
                if cpu::parallel(s.len()) {
                    s.par_iter().map(sq).sum()
                } else {
                    s.iter().map(sq).sum()
                }
            },
        ))
    })
}

/// The value of a one-element array (`r1`, `r2`, a `rescale_grad` array).
fn scalar(op: &str, name: &str, t: &Tensor) -> Result<f64> {
    if t.numel() != 1 {
        return Err(Error::shape(
            op,
            format!("{name} must hold one value, got shape {:?}", t.shape()),
        ));
    }
    Ok(t.to_f64_vec()?[0])
}

/// One array of the update: its name (for errors), the tensor, and whether it is written.
type Arr<'a> = (&'a str, &'a Tensor, bool);

fn check(op: &str, arrays: &[Arr<'_>]) -> Result<()> {
    let (n0, t0, _) = arrays[0];
    for (i, &(name, t, write)) in arrays.iter().enumerate() {
        if t.shape() != t0.shape() {
            return Err(Error::shape(
                op,
                format!(
                    "{name} has shape {:?} but {n0} has shape {:?}",
                    t.shape(),
                    t0.shape()
                ),
            ));
        }
        if !t.dtype().is_float() {
            return Err(Error::dtype(
                op,
                format!("{name} must be a float array, got {}", t.dtype()),
            ));
        }
        if write {
            if !t.is_contiguous() {
                return Err(Error::value(
                    op,
                    format!("{name} is updated in place and must be contiguous"),
                ));
            }
            // Read-only arrays are copied first when they share memory; two written ones cannot.
            if let Some((other, _, _)) = arrays
                .iter()
                .enumerate()
                .find(|(j, (_, u, w))| *j != i && *w && u.same_storage(t))
                .map(|(_, a)| a)
            {
                return Err(Error::value(
                    op,
                    format!("{name} is updated in place and must not share memory with {other}"),
                ));
            }
        }
    }
    Ok(())
}

/// Runs kernel `f` over `arrays` (all checked, of one shape). Arrays already in the compute type
/// and sharing memory with no other are used in place; the others are converted copies, stored
/// back when written.
fn fused<C: Real, F: Fn(usize, &mut [C; MAX]) + Sync + Copy>(
    op: &str,
    arrays: &[Arr<'_>],
    copy: bool,
    f: F,
) -> Result<()> {
    check(op, arrays)?;
    let n = arrays[0].1.numel();
    let direct: Vec<bool> = arrays
        .iter()
        .enumerate()
        .map(|(i, &(_, t, _))| {
            t.dtype() == C::DTYPE
                && t.is_contiguous()
                && !arrays
                    .iter()
                    .enumerate()
                    .any(|(j, (_, u, _))| j != i && u.same_storage(t))
        })
        .collect();
    let mut owned: Vec<Option<Vec<C>>> = arrays
        .iter()
        .zip(&direct)
        .map(|(&(_, t, _), &d)| {
            if d {
                Ok(None)
            } else {
                to_compute(op, t).map(Some)
            }
        })
        .collect::<Result<_>>()?;
    {
        let mut reads: Vec<RwLockReadGuard<'_, Storage>> = Vec::new();
        let mut writes: Vec<RwLockWriteGuard<'_, Storage>> = Vec::new();
        for (&(_, t, w), &d) in arrays.iter().zip(&direct) {
            if d && w {
                writes.push(t.storage_mut()?);
            } else if d {
                reads.push(t.storage()?);
            }
        }
        let (mut ri, mut wi, mut oi) = (reads.iter(), writes.iter_mut(), owned.iter_mut());
        let mut slots = Vec::with_capacity(arrays.len());
        for (&(_, t, w), &d) in arrays.iter().zip(&direct) {
            let own = oi.next().expect("one entry per array");
            let off = t.layout().offset;
            slots.push(match (d, w, own) {
                (true, true, _) => {
                    let g = wi.next().expect("a guard per direct written array");
                    Slot::W(&mut C::slice_mut(g.cpu_mut(op)?)[off..off + n])
                }
                (true, false, _) => {
                    let g = ri.next().expect("a guard per direct read array");
                    Slot::R(&C::slice(g.cpu(op)?)[off..off + n])
                }
                (false, true, Some(v)) => Slot::W(&mut v[..]),
                (false, false, Some(v)) => Slot::R(&v[..]),
                (false, _, None) => unreachable!("arrays not used in place are copied"),
            });
        }
        for_each(slots, n, copy, f);
    }
    for (&(_, t, w), own) in arrays.iter().zip(&owned) {
        if let (true, Some(v)) = (w, own) {
            write_back(op, t, v)?;
        }
    }
    Ok(())
}

#[inline]
fn clip<C: Real>(x: C, c: Option<C>) -> C {
    match c {
        Some(c) if x > c => c,
        Some(c) if x < Num::neg(c) => Num::neg(c),
        _ => x,
    }
}

/// The SGD kernel (with momentum when `mom`), shared by SGD and LARS.
fn sgd_kernel<C: Real>(
    lr: C,
    wd: C,
    mu: C,
    mom: bool,
    rs: C,
    cg: Option<C>,
) -> impl Fn(usize, &mut [C; MAX]) + Sync + Copy {
    move |_, v| {
        let g = clip(rs * v[1], cg);
        if mom {
            v[2] = mu * v[2] - lr * wd * v[0] - lr * g;
            v[0] = v[0] + v[2];
        } else {
            v[0] = (C::one() - lr * wd) * v[0] - lr * g;
        }
    }
}

impl Update {
    fn run<C: Real>(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let op = self.name;
        let h = &self.h;
        let states = self.kind.states(h);
        // AdamW may carry rescale_grad as a trailing one-element array, as MXNet 2.x passes it.
        let base = 2 + states.len() + self.mp as usize;
        let extra = (self.kind == Kind::AdamW && x.len() == base + 1) as usize;
        if x.len() != base + extra {
            let mut names = vec!["weight", "grad"];
            names.extend_from_slice(states);
            if self.mp {
                names.push("weight32");
            }
            return Err(Error::value(
                op,
                format!(
                    "expected {} inputs ({}), got {}",
                    base,
                    names.join(", "),
                    x.len()
                ),
            ));
        }
        let weight = &x[0];
        if self.mp && x[base - 1].dtype() != DType::F32 {
            return Err(Error::dtype(
                op,
                format!("weight32 must be float32, got {}", x[base - 1].dtype()),
            ));
        }
        let master = if self.mp { &x[base - 1] } else { weight };
        let c = |v: f64| C::from_f(v);
        let (lr, wd, rs) = (c(h.lr), c(h.wd), c(h.rescale));
        let cg = (h.clip >= 0.0).then(|| c(h.clip));
        let one = C::one();

        // Phase 2 of LAMB reads r1 and r2 (one value each) and g instead of a gradient.
        if self.kind == Kind::LambPhase2 {
            let mut r1 = scalar(op, "r1", &x[2])?;
            let r2 = scalar(op, "r2", &x[3])?;
            if h.lower_bound >= 0.0 {
                r1 = r1.max(h.lower_bound);
            }
            if h.upper_bound >= 0.0 {
                r1 = r1.min(h.upper_bound);
            }
            let lr = if r1 == 0.0 || r2 == 0.0 {
                h.lr
            } else {
                h.lr * r1 / r2
            };
            let lr = c(lr);
            let mut arrays: Vec<Arr<'_>> = vec![("weight", master, true), ("g", &x[1], false)];
            if self.mp {
                arrays.push(("weight", weight, true));
            }
            fused(op, &arrays, self.mp, move |_, v: &mut [C; MAX]| {
                v[0] = v[0] - lr * v[1]
            })?;
            return Ok(vec![weight.clone()]);
        }

        // Phase 1 of LAMB writes a new array g and leaves the weight alone.
        let out = match self.kind {
            Kind::LambPhase1 => Some(Tensor::zeros(
                weight.shape(),
                if self.mp { DType::F32 } else { weight.dtype() },
                weight.device(),
            )?),
            _ => None,
        };
        let writes_weight = out.is_none();
        let mut arrays: Vec<Arr<'_>> = vec![
            (
                if self.mp { "weight32" } else { "weight" },
                master,
                writes_weight,
            ),
            ("grad", &x[1], false),
        ];
        for (name, t) in states.iter().zip(&x[2..]) {
            arrays.push((name, t, true));
        }
        if let Some(o) = &out {
            arrays.push(("g", o, true));
        }
        // The float16 weight of a multi-precision update comes last: `fused` copies the master into it.
        let copy = self.mp && writes_weight;
        if copy {
            arrays.push(("weight", weight, true));
        }

        let (b1, b2, eps) = (c(h.beta1), c(h.beta2), c(h.epsilon));
        let (mu, rho) = (c(h.momentum), c(h.rho));
        let cw = (h.clip_weights >= 0.0).then(|| c(h.clip_weights));
        match self.kind {
            Kind::Sgd | Kind::SgdMom => fused(
                op,
                &arrays,
                copy,
                sgd_kernel(lr, wd, mu, self.kind == Kind::SgdMom, rs, cg),
            )?,
            Kind::Lars => {
                // lr * eta * |w| / (|g| + wd |w| + eps), or lr when |w| / |g| is 0 or not finite.
                let wn = sum_sq(op, weight)?.sqrt();
                let gn = sum_sq(op, &x[1])?.sqrt() * h.rescale.abs();
                let ratio = wn / gn;
                let lars = if ratio.is_finite() && ratio != 0.0 {
                    h.eta * wn / (gn + h.wd * wn + h.epsilon)
                } else {
                    1.0
                };
                let k = sgd_kernel(c(h.lr * lars), wd, mu, !states.is_empty(), rs, cg);
                fused(op, &arrays, copy, k)?
            }
            Kind::Nag => fused(op, &arrays, copy, move |_, v| {
                let g = clip(rs * v[1], cg) + wd * v[0];
                v[2] = mu * v[2] - lr * g;
                v[0] = v[0] + mu * v[2] - lr * g;
            })?,
            Kind::Adam => fused(op, &arrays, copy, move |_, v| {
                let g = clip(rs * v[1] + wd * v[0], cg);
                v[2] = b1 * v[2] + (one - b1) * g;
                v[3] = b2 * v[3] + (one - b2) * g * g;
                v[0] = v[0] - lr * v[2] / (v[3].sqrt() + eps);
            })?,
            Kind::AdamW => {
                let scale = match extra {
                    1 => scalar(op, "rescale_grad", &x[base])?,
                    _ => h.rescale,
                };
                // MXNet skips the whole update when the loss scale overflowed.
                if scale.is_finite() {
                    let (rs, eta) = (c(scale), c(h.eta));
                    fused(op, &arrays, copy, move |_, v| {
                        let g = clip(rs * v[1], cg);
                        v[2] = b1 * v[2] + (one - b1) * g;
                        v[3] = b2 * v[3] + (one - b2) * g * g;
                        v[0] = v[0] - eta * (lr * v[2] / (v[3].sqrt() + eps) + wd * v[0]);
                    })?
                }
            }
            Kind::RmsProp => fused(op, &arrays, copy, move |_, v| {
                let g = clip(rs * v[1] + wd * v[0], cg);
                v[2] = rho * v[2] + (one - rho) * g * g;
                v[0] = clip(v[0] - lr * g / (v[2].sqrt() + eps), cw);
            })?,
            Kind::RmsPropAlex => fused(op, &arrays, copy, move |_, v| {
                let g = clip(rs * v[1] + wd * v[0], cg);
                v[2] = rho * v[2] + (one - rho) * g;
                v[3] = rho * v[3] + (one - rho) * g * g;
                v[4] = mu * v[4] - lr * g / (v[3] - v[2] * v[2] + eps).sqrt();
                v[0] = clip(v[0] + v[4], cw);
            })?,
            Kind::Ftrl => {
                let (l1, beta) = (c(h.lamda1), c(h.beta));
                fused(op, &arrays, copy, move |_, v| {
                    let g = clip(rs * v[1], cg);
                    let n = v[3];
                    v[2] = v[2] + g - ((n + g * g).sqrt() - n.sqrt()) * v[0] / lr;
                    v[3] = n + g * g;
                    let z = v[2];
                    v[0] = if Num::abs(z) > l1 {
                        (Num::sign(z) * l1 - z) / ((beta + v[3].sqrt()) / lr + wd)
                    } else {
                        C::zero()
                    };
                })?
            }
            Kind::Ftml => {
                let coef1 = c(1.0 - h.beta1.powf(h.t));
                let coef2 = c(1.0 - h.beta2.powf(h.t));
                fused(op, &arrays, copy, move |_, v| {
                    let g = clip(rs * v[1] + wd * v[0], cg);
                    v[3] = b2 * v[3] + (one - b2) * g * g;
                    let d = coef1 / lr * ((v[3] / coef2).sqrt() + eps);
                    v[4] = b1 * v[4] + (one - b1) * g - (d - b1 * v[2]) * v[0];
                    v[2] = d;
                    v[0] = Num::neg(v[4]) / d;
                })?
            }
            Kind::SignSgd => fused(op, &arrays, copy, move |_, v| {
                v[0] = (one - lr * wd) * v[0] - lr * Num::sign(clip(rs * v[1], cg));
            })?,
            Kind::Signum => {
                let wd_lh = c(h.wd_lh);
                fused(op, &arrays, copy, move |_, v| {
                    let g = clip(rs * v[1], cg);
                    v[2] = mu * v[2] - (one - mu) * wd * v[0] - (one - mu) * g;
                    v[0] = (one - lr * wd_lh) * v[0] + lr * Num::sign(v[2]);
                })?
            }
            Kind::LambPhase1 => {
                let (c1, c2) = if h.bias_correction {
                    (c(1.0 - h.beta1.powf(h.t)), c(1.0 - h.beta2.powf(h.t)))
                } else {
                    (one, one)
                };
                fused(op, &arrays, copy, move |_, v| {
                    let g = clip(rs * v[1], cg);
                    v[2] = b1 * v[2] + (one - b1) * g;
                    v[3] = b2 * v[3] + (one - b2) * g * g;
                    v[4] = (v[2] / c1) / ((v[3] / c2).sqrt() + eps) + wd * v[0];
                })?
            }
            Kind::AdaGrad => fused(op, &arrays, copy, move |_, v| {
                let g = clip(rs * v[1], cg) + wd * v[0];
                v[2] = v[2] + g * g;
                v[0] = v[0] - lr * g / (v[2] + eps).sqrt();
            })?,
            Kind::Adamax => fused(op, &arrays, copy, move |_, v| {
                let g = clip(rs * v[1], cg) + wd * v[0];
                v[2] = b1 * v[2] + (one - b1) * g;
                v[3] = Num::max(b2 * v[3], Num::abs(g));
                v[0] = v[0] - lr * v[2] / v[3];
            })?,
            Kind::Nadam => {
                let (mt, mt1) = (c(h.momentum_t), c(h.momentum_t_1));
                let (ms, msn) = (c(h.m_schedule), c(h.m_schedule_next));
                let coef2 = c(1.0 - h.beta2.powf(h.t));
                fused(op, &arrays, copy, move |_, v| {
                    let g = clip(rs * v[1], cg) + wd * v[0];
                    v[2] = b1 * v[2] + (one - b1) * g;
                    v[3] = b2 * v[3] + (one - b2) * g * g;
                    let m_bar = mt1 * (v[2] / (one - msn)) + (one - mt) * (g / (one - ms));
                    v[0] = v[0] - lr * m_bar / ((v[3] / coef2).sqrt() + eps);
                })?
            }
            Kind::AdaDelta => fused(op, &arrays, copy, move |_, v| {
                let g = clip(rs * v[1], cg) + wd * v[0];
                v[2] = rho * v[2] + (one - rho) * g * g;
                let d = (v[3] + eps).sqrt() / (v[2] + eps).sqrt() * g;
                v[3] = rho * v[3] + (one - rho) * d * d;
                v[0] = v[0] - lr * d;
            })?,
            Kind::Sgld => {
                let (stream, sd, half) = (Stream::new(), h.lr.sqrt(), c(h.lr / 2.0));
                fused(op, &arrays, copy, move |i, v| {
                    let g = clip(rs * v[1], cg) + wd * v[0];
                    let noise = c(stream.rng(i as u64).normal() * sd);
                    v[0] = v[0] - half * g + noise;
                })?
            }
            Kind::Dcasgd => {
                let (lamda, mom) = (c(h.lamda), states.len() == 2);
                fused(op, &arrays, copy, move |_, v| {
                    let w = v[0];
                    let prev = if mom { 3 } else { 2 };
                    let g = clip(rs * v[1], cg) + wd * w;
                    let d = g + lamda * g * g * (w - v[prev]);
                    v[0] = if mom {
                        v[2] = mu * v[2] - lr * d;
                        w + v[2]
                    } else {
                        w - lr * d
                    };
                    v[prev] = w;
                })?
            }
            Kind::LambPhase2 => unreachable!("handled above"),
        }
        Ok(vec![out.unwrap_or_else(|| weight.clone())])
    }
}

impl Op for Update {
    fn name(&self) -> &'static str {
        self.name
    }
    fn attrs(&self) -> Attrs {
        self.attrs.clone()
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let w = i
            .first()
            .ok_or_else(|| Error::value(self.name, "expected a weight input"))?;
        Ok(vec![match self.kind {
            Kind::LambPhase1 if self.mp => Meta::new(w.shape.clone(), DType::F32),
            _ => w.clone(),
        }])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let master = if self.mp { x.last() } else { x.first() };
        match master.map(|t| t.dtype()) {
            Some(DType::F64) => self.run::<f64>(x),
            _ => self.run::<f32>(x),
        }
    }
}

fn build(name: &'static str, kind: Kind, mp: bool, a: &Attrs) -> Result<Arc<dyn Op>> {
    let req = |key: &str| {
        a.opt_float(name, key)?
            .ok_or_else(|| Error::value(name, format!("argument {key} is required")))
    };
    let f = |key: &str, default: f64| a.float(name, key, default);
    // 1.x spellings: gamma1/gamma2 for RMSProp's rho/momentum, clip_grad for FTML's clip_gradient.
    let alias = |key: &str, old: &str, default: f64| -> Result<f64> {
        Ok(a.opt_float(name, key)?
            .or(a.opt_float(name, old)?)
            .unwrap_or(default))
    };
    let eps_default = match kind {
        Kind::LambPhase1 | Kind::AdaDelta => 1e-6,
        Kind::AdaGrad => 1e-7,
        _ => 1e-8,
    };
    let needs_lr = kind != Kind::LambPhase1;
    let needs_t = matches!(kind, Kind::Ftml | Kind::LambPhase1 | Kind::Nadam);
    let h = Hyper {
        lr: if needs_lr { req("lr")? } else { 0.0 },
        wd: f("wd", 0.0)?,
        rescale: f("rescale_grad", 1.0)?,
        clip: alias("clip_gradient", "clip_grad", -1.0)?,
        momentum: match kind {
            Kind::RmsPropAlex => alias("momentum", "gamma2", 0.9)?,
            _ => f("momentum", 0.0)?,
        },
        beta1: f("beta1", if kind == Kind::Ftml { 0.6 } else { 0.9 })?,
        beta2: f("beta2", 0.999)?,
        epsilon: alias("epsilon", "eps", eps_default)?,
        rho: alias(
            "rho",
            "gamma1",
            if kind == Kind::AdaDelta { 0.9 } else { 0.95 },
        )?,
        clip_weights: f("clip_weights", -1.0)?,
        lamda1: f("lamda1", 0.01)?,
        beta: f("beta", 1.0)?,
        t: if needs_t { req("t")? } else { 0.0 },
        bias_correction: a.bool(name, "bias_correction", true)?,
        wd_lh: f("wd_lh", 0.0)?,
        lower_bound: f("lower_bound", -1.0)?,
        upper_bound: f("upper_bound", -1.0)?,
        eta: match kind {
            Kind::AdamW => req("eta")?,
            _ => f("eta", 0.001)?,
        },
        lamda: f("lamda", 0.04)?,
        momentum_t: f("momentum_t", 0.0)?,
        momentum_t_1: f("momentum_t_1", 0.0)?,
        m_schedule: f("m_schedule", 0.0)?,
        m_schedule_next: f("m_schedule_next", 0.0)?,
    };
    if kind == Kind::Nadam {
        for key in [
            "momentum_t",
            "momentum_t_1",
            "m_schedule",
            "m_schedule_next",
        ] {
            req(key)?;
        }
    }
    Ok(Arc::new(Update {
        name,
        mp,
        kind,
        h,
        attrs: a.clone(),
    }))
}

pub fn register(r: &mut Registry) {
    macro_rules! reg {
        ($kind:expr, $mp:expr, $($name:literal),+) => {
            $( r.insert($name, |a| build($name, $kind, $mp, a)); )+
        };
    }
    reg!(Kind::Sgd, false, "sgd_update");
    reg!(Kind::Sgd, true, "mp_sgd_update");
    reg!(Kind::SgdMom, false, "sgd_mom_update");
    reg!(Kind::SgdMom, true, "mp_sgd_mom_update");
    reg!(Kind::Nag, false, "nag_mom_update");
    reg!(Kind::Nag, true, "mp_nag_mom_update");
    reg!(Kind::Adam, false, "adam_update");
    reg!(Kind::Adam, true, "mp_adam_update");
    reg!(
        Kind::AdamW,
        false,
        "adamw_update",
        "_adamw_update",
        "_contrib_adamw_update"
    );
    reg!(
        Kind::AdamW,
        true,
        "mp_adamw_update",
        "_mp_adamw_update",
        "_contrib_mp_adamw_update"
    );
    reg!(Kind::RmsProp, false, "rmsprop_update");
    reg!(Kind::RmsProp, true, "mp_rmsprop_update");
    reg!(Kind::RmsPropAlex, false, "rmspropalex_update");
    reg!(Kind::RmsPropAlex, true, "mp_rmspropalex_update");
    reg!(Kind::Ftrl, false, "ftrl_update");
    reg!(Kind::Ftrl, true, "mp_ftrl_update");
    reg!(Kind::Ftml, false, "ftml_update");
    reg!(Kind::Ftml, true, "mp_ftml_update");
    reg!(Kind::SignSgd, false, "signsgd_update");
    reg!(Kind::SignSgd, true, "mp_signsgd_update");
    reg!(Kind::Signum, false, "signum_update");
    reg!(Kind::Signum, true, "mp_signum_update");
    reg!(Kind::LambPhase1, false, "lamb_update_phase1");
    reg!(Kind::LambPhase1, true, "mp_lamb_update_phase1");
    reg!(Kind::LambPhase2, false, "lamb_update_phase2");
    reg!(Kind::LambPhase2, true, "mp_lamb_update_phase2");
    reg!(
        Kind::AdaGrad,
        false,
        "adagrad_update",
        "_sparse_adagrad_update"
    );
    reg!(Kind::AdaGrad, true, "mp_adagrad_update");
    reg!(Kind::Adamax, false, "adamax_update");
    reg!(Kind::Adamax, true, "mp_adamax_update");
    reg!(Kind::Nadam, false, "nadam_update");
    reg!(Kind::Nadam, true, "mp_nadam_update");
    reg!(Kind::AdaDelta, false, "adadelta_update");
    reg!(Kind::AdaDelta, true, "mp_adadelta_update");
    reg!(Kind::Sgld, false, "sgld_update");
    reg!(Kind::Sgld, true, "mp_sgld_update");
    reg!(Kind::Dcasgd, false, "dcasgd_update");
    reg!(Kind::Dcasgd, true, "mp_dcasgd_update");
    reg!(Kind::Lars, false, "lars_update");
    reg!(Kind::Lars, true, "mp_lars_update");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{invoke, Attr};

    fn t32(v: &[f32]) -> Tensor {
        Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap()
    }

    #[test]
    fn sgd_mom_updates_weight_and_state_in_place() {
        let (w, g, m) = (t32(&[1.0, -2.0]), t32(&[0.5, 4.0]), t32(&[0.1, 0.0]));
        let a = Attrs::new()
            .with("lr", Attr::Float(0.1))
            .with("momentum", Attr::Float(0.9))
            .with("wd", Attr::Float(0.01))
            .with("clip_gradient", Attr::Float(1.0));
        invoke("sgd_mom_update", &[&w, &g, &m], &a).unwrap();
        // mom = 0.9 m - lr wd w - lr clip(g, 1)
        let m0 = 0.9 * 0.1 - 0.1 * 0.01 * 1.0 - 0.1 * 0.5;
        let m1 = -0.1 * 0.01 * -2.0 - 0.1 * 1.0;
        let mv = m.to_vec::<f32>().unwrap();
        assert!((mv[0] - m0).abs() < 1e-7 && (mv[1] - m1).abs() < 1e-7);
        let wv = w.to_vec::<f32>().unwrap();
        assert!((wv[0] - (1.0 + m0)).abs() < 1e-7 && (wv[1] - (-2.0 + m1)).abs() < 1e-7);
    }

    #[test]
    fn bad_inputs_are_clear_errors() {
        let (w, g) = (t32(&[1.0, 2.0]), t32(&[1.0]));
        let a = Attrs::new().with("lr", Attr::Float(0.1));
        let e = invoke("sgd_update", &[&w, &g], &a).unwrap_err().to_string();
        assert!(e.contains("sgd_update") && e.contains("shape"), "{e}");
        let e = invoke("sgd_mom_update", &[&w, &w], &a)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected 3 inputs"), "{e}");
        let e = invoke("sgd_update", &[&w, &w], &Attrs::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("lr is required"), "{e}");
        let m = w.detach();
        let e = invoke("sgd_mom_update", &[&w, &w, &m], &a)
            .unwrap_err()
            .to_string();
        assert!(e.contains("share memory"), "{e}");
    }
}
