//! Deformable convolution: MXNet's `DeformableConvolution` (v1, contrib) and
//! `ModulatedDeformableConvolution` (v2, with a mask), NCHW, with their gradient op.
//!
//! Semantics follow MXNet (`contrib/deformable_convolution-inl.h`, `nn/deformable_im2col.h`,
//! `nn/modulated_deformable_im2col.h`): output position `(ho, wo)` and kernel position `(i, j)`
//! sample the input at `(ho*sh - ph + i*dh + dy, wo*sw - pw + j*dw + dx)`, where `dy` and `dx` are
//! offset channels `g*2*kh*kw + 2*(i*kw + j)` and `... + 1` of the sample's deformable group `g`
//! (channels are split evenly among the groups). The sample is bilinear with zero outside the
//! input: a position with `h <= -1`, `h >= H` (same for `w`) gives 0, and corners outside the
//! input count as 0. v2 multiplies each sample by mask channel `g*kh*kw + i*kw + j`.
//!
//! Computed as a deformable im2col into a `(C*kh*kw, Ho*Wo)` column buffer and one GEMM per
//! convolution group with the weight, per batch element. The gradient op computes the column
//! gradient (weight^T x output gradient), scatters it back through the bilinear weights (data),
//! differentiates the interpolation w.r.t. the position (offsets) and collects the unmasked samples
//! (mask); the weight gradient is the output gradient times the column buffer transposed.
use super::layers::{sh, with_slice, work_dtype};
use super::{apply, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::backend::cpu::matmul::{batched_gemm, GemmElem, MatRef};
use crate::backend::cpu::{self, num::Real};
use crate::{DType, Error, Result, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

/// `DeformableConvolution(data, offset, weight, bias)` and, `modulated`,
/// `ModulatedDeformableConvolution(data, offset, mask, weight, bias)`.
#[derive(Clone, Debug)]
pub struct DeformConv {
    pub modulated: bool,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilate: [usize; 2],
    pub pad: [usize; 2],
    pub num_filter: usize,
    pub num_group: usize,
    pub num_deformable_group: usize,
    pub no_bias: bool,
    pub workspace: i64,
}

/// Sizes of one call.
#[derive(Clone, Copy, Debug)]
struct Dims {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
    f: usize,
    groups: usize,
    dgroups: usize,
}

impl Dims {
    fn l(&self) -> usize {
        self.ho * self.wo
    }
}

impl DeformConv {
    fn op(&self) -> &'static str {
        if self.modulated {
            "ModulatedDeformableConvolution"
        } else {
            "DeformableConvolution"
        }
    }
    fn input_names(&self) -> &'static str {
        match (self.modulated, self.no_bias) {
            (false, true) => "data, offset, weight",
            (false, false) => "data, offset, weight, bias",
            (true, true) => "data, offset, mask, weight",
            (true, false) => "data, offset, mask, weight, bias",
        }
    }
    fn n_inputs(&self) -> usize {
        3 + self.modulated as usize + !self.no_bias as usize
    }
    /// Index of the weight among the inputs.
    fn wi(&self) -> usize {
        2 + self.modulated as usize
    }

    fn check(&self, i: &[Meta]) -> Result<Dims> {
        let op = self.op();
        if i.len() != self.n_inputs() {
            return Err(Error::value(
                op,
                format!(
                    "expected {} inputs ({}), got {}",
                    self.n_inputs(),
                    self.input_names(),
                    i.len()
                ),
            ));
        }
        let x = &i[0].shape;
        if x.len() != 4 {
            return Err(Error::shape(
                op,
                format!("data must be 4-D (N, C, H, W), got shape {}", sh(x)),
            ));
        }
        let (n, c, h, w) = (x[0], x[1], x[2], x[3]);
        let [kh, kw] = self.kernel;
        let (g, dg, f) = (self.num_group, self.num_deformable_group, self.num_filter);
        if c % g != 0 || f % g != 0 {
            return Err(Error::shape(
                op,
                format!(
                    "num_group={g} must divide the data's channels ({c}, data shape {}) and \
                     num_filter ({f})",
                    sh(x)
                ),
            ));
        }
        if c % dg != 0 {
            return Err(Error::shape(
                op,
                format!(
                    "num_deformable_group={dg} must divide the data's channels ({c}, data shape {})",
                    sh(x)
                ),
            ));
        }
        let mut out = [0usize; 2];
        for d in 0..2 {
            let ext = self.dilate[d] * (self.kernel[d] - 1) + 1;
            let padded = [h, w][d] + 2 * self.pad[d];
            if ext > padded {
                return Err(Error::shape(
                    op,
                    format!(
                        "kernel {} (dilate {}) spans {ext} but the data (shape {}) is {} padded \
                         along dimension {}",
                        sh(&self.kernel),
                        sh(&self.dilate),
                        sh(x),
                        padded,
                        d + 2
                    ),
                ));
            }
            out[d] = (padded - ext) / self.stride[d] + 1;
        }
        let [ho, wo] = out;
        let expect = |k: usize, what: &str, want: Vec<usize>| -> Result<()> {
            if i[k].shape.as_slice() != want.as_slice() {
                return Err(Error::shape(
                    op,
                    format!(
                        "{what} has shape {}, expected {} for data of shape {}",
                        sh(&i[k].shape),
                        sh(&want),
                        sh(x)
                    ),
                ));
            }
            Ok(())
        };
        expect(
            1,
            "offset (N, 2*num_deformable_group*kh*kw, Ho, Wo)",
            vec![n, 2 * dg * kh * kw, ho, wo],
        )?;
        if self.modulated {
            expect(
                2,
                "mask (N, num_deformable_group*kh*kw, Ho, Wo)",
                vec![n, dg * kh * kw, ho, wo],
            )?;
        }
        let wi = self.wi();
        expect(
            wi,
            "weight (num_filter, C/num_group, kh, kw)",
            vec![f, c / g, kh, kw],
        )?;
        if !self.no_bias {
            expect(wi + 1, "bias (num_filter,)", vec![f])?;
        }
        if !i[0].dtype.is_float() {
            return Err(Error::dtype(
                op,
                format!("data must be a float array, not {}", i[0].dtype),
            ));
        }
        let names = ["data", "offset", "mask", "weight", "bias"];
        for (k, m) in i.iter().enumerate().skip(1) {
            if m.dtype != i[0].dtype {
                let name = if self.modulated || k < 2 {
                    names[k]
                } else {
                    names[k + 1]
                };
                return Err(Error::dtype(
                    op,
                    format!("{name} is {} but data is {}", m.dtype, i[0].dtype),
                ));
            }
        }
        Ok(Dims {
            n,
            c,
            h,
            w,
            ho,
            wo,
            f,
            groups: g,
            dgroups: dg,
        })
    }
}

/// The bilinear sample of a plane at `(y, x)` (inside `(-1, H) x (-1, W)`), corners outside the
/// plane read as 0.
#[inline]
fn bilinear<T: Real>(p: &[T], hh: usize, ww: usize, y: T, x: T) -> T {
    let (yl, xl) = (y.floor(), x.floor());
    let (ly, lx) = (y - yl, x - xl);
    let (hy, hx) = (T::one() - ly, T::one() - lx);
    let (y0, x0) = (yl.f() as isize, xl.f() as isize);
    let at = |r: isize, c: isize| -> T {
        if r >= 0 && c >= 0 && (r as usize) < hh && (c as usize) < ww {
            p[r as usize * ww + c as usize]
        } else {
            T::zero()
        }
    };
    hy * hx * at(y0, x0)
        + hy * lx * at(y0, x0 + 1)
        + ly * hx * at(y0 + 1, x0)
        + ly * lx * at(y0 + 1, x0 + 1)
}

/// Whether a sample position reads the input at all (MXNet: `h > -1 && w > -1 && h < H && w < W`).
#[inline]
fn inside<T: Real>(y: T, x: T, hh: usize, ww: usize) -> bool {
    y > T::from_f(-1.0)
        && x > T::from_f(-1.0)
        && y < T::from_f(hh as f64)
        && x < T::from_f(ww as f64)
}

/// Per-call constants the sampling loops need.
struct Sampler<'a, T> {
    d: Dims,
    cv: &'a DeformConv,
    /// This batch element's offsets `(dg*2*kk, L)` and mask `(dg*kk, L)`.
    off: &'a [T],
    mask: Option<&'a [T]>,
}

impl<T: Real> Sampler<'_, T> {
    /// The sample position of kernel position `kp` of deformable group `dgi` at output `l`, and
    /// the mask value.
    #[inline]
    fn pos(&self, dgi: usize, kp: usize, l: usize) -> (T, T, T) {
        let (kk, ll) = (self.cv.kernel[0] * self.cv.kernel[1], self.d.l());
        let (i, j) = (kp / self.cv.kernel[1], kp % self.cv.kernel[1]);
        let (oh, ow) = (l / self.d.wo, l % self.d.wo);
        let base_y =
            (oh * self.cv.stride[0] + i * self.cv.dilate[0]) as f64 - self.cv.pad[0] as f64;
        let base_x =
            (ow * self.cv.stride[1] + j * self.cv.dilate[1]) as f64 - self.cv.pad[1] as f64;
        let row = (dgi * 2 * kk + 2 * kp) * ll;
        let y = T::from_f(base_y) + self.off[row + l];
        let x = T::from_f(base_x) + self.off[row + ll + l];
        let m = match self.mask {
            Some(m) => m[(dgi * kk + kp) * ll + l],
            None => T::one(),
        };
        (y, x, m)
    }
}

/// The column buffer `(C*kk, L)` of one batch element.
fn im2col<T: Real>(x: &[T], s: &Sampler<T>, col: &mut [T]) {
    let d = s.d;
    let kk = s.cv.kernel[0] * s.cv.kernel[1];
    let (ll, hw) = (d.l(), d.h * d.w);
    let cpg = d.c / d.dgroups;
    let one = |c: usize, cc: &mut [T]| {
        let plane = &x[c * hw..(c + 1) * hw];
        let dgi = c / cpg;
        for kp in 0..kk {
            for (l, o) in cc[kp * ll..(kp + 1) * ll].iter_mut().enumerate() {
                let (y, xx, m) = s.pos(dgi, kp, l);
                *o = if inside(y, xx, d.h, d.w) {
                    bilinear(plane, d.h, d.w, y, xx) * m
                } else {
                    T::zero()
                };
            }
        }
    };
    if cpu::parallel(col.len() * 4) {
        col.par_chunks_mut(kk * ll)
            .enumerate()
            .for_each(|(c, cc)| one(c, cc));
    } else {
        col.chunks_mut(kk * ll)
            .enumerate()
            .for_each(|(c, cc)| one(c, cc));
    }
}

/// `out (groups x m x n) = a_g (m x k) b_g (k x n)` over the convolution groups.
#[allow(clippy::too_many_arguments)]
fn group_gemm<T: GemmElem>(
    groups: usize,
    (m, n, k): (usize, usize, usize),
    a: &[T],
    (a_step, ars, acs): (usize, isize, isize),
    b: &[T],
    (b_step, brs, bcs): (usize, isize, isize),
    out: &mut [T],
) -> Result<()> {
    let am = MatRef {
        data: a,
        offsets: (0..groups).map(|g| g * a_step).collect(),
        rs: ars,
        cs: acs,
    };
    let bm = MatRef {
        data: b,
        offsets: (0..groups).map(|g| g * b_step).collect(),
        rs: brs,
        cs: bcs,
    };
    batched_gemm(m, n, k, &am, &bm, out)
}

fn forward_typed<T: Real + GemmElem>(cv: &DeformConv, x: &[Tensor], d: Dims) -> Result<Vec<T>> {
    let op = cv.op();
    let kk = cv.kernel[0] * cv.kernel[1];
    let ll = d.l();
    let (cg, fg) = (d.c / d.groups, d.f / d.groups);
    let mut out = vec![T::zero(); d.n * d.f * ll];
    let xs = x[0].cast_to(T::DTYPE)?.contiguous()?.to_vec::<T>()?;
    let offs = x[1].cast_to(T::DTYPE)?.contiguous()?.to_vec::<T>()?;
    let masks = match cv.modulated {
        true => Some(x[2].cast_to(T::DTYPE)?.contiguous()?.to_vec::<T>()?),
        false => None,
    };
    let wi = cv.wi();
    let ws = x[wi].cast_to(T::DTYPE)?.contiguous()?.to_vec::<T>()?;
    let mut col = vec![T::zero(); d.c * kk * ll];
    let (ofs, ms) = (2 * d.dgroups * kk * ll, d.dgroups * kk * ll);
    for b in 0..d.n {
        let s = Sampler {
            d,
            cv,
            off: &offs[b * ofs..(b + 1) * ofs],
            mask: masks.as_ref().map(|m| &m[b * ms..(b + 1) * ms]),
        };
        im2col(
            &xs[b * d.c * d.h * d.w..(b + 1) * d.c * d.h * d.w],
            &s,
            &mut col,
        );
        group_gemm(
            d.groups,
            (fg, ll, cg * kk),
            &ws,
            (fg * cg * kk, (cg * kk) as isize, 1),
            &col,
            (cg * kk * ll, ll as isize, 1),
            &mut out[b * d.f * ll..(b + 1) * d.f * ll],
        )?;
    }
    if !cv.no_bias {
        with_slice::<T, _>(op, &x[wi + 1], |bias| {
            let body = |(r, o): (usize, &mut [T])| {
                let bv = bias[r % d.f];
                o.iter_mut().for_each(|v| *v = *v + bv);
            };
            if cpu::parallel(out.len()) {
                out.par_chunks_mut(ll.max(1)).enumerate().for_each(body);
            } else {
                out.chunks_mut(ll.max(1)).enumerate().for_each(body);
            }
            Ok(())
        })?;
    }
    Ok(out)
}

impl Op for DeformConv {
    fn name(&self) -> &'static str {
        if self.modulated {
            "modulated_deformable_convolution"
        } else {
            "deformable_convolution"
        }
    }
    fn mxnet_name(&self) -> &'static str {
        if self.modulated {
            "_contrib_ModulatedDeformableConvolution"
        } else {
            "_contrib_DeformableConvolution"
        }
    }
    fn attrs(&self) -> Attrs {
        let t = |v: [usize; 2]| Attr::Ints(v.iter().map(|&d| d as i64).collect());
        Attrs::new()
            .with("kernel", t(self.kernel))
            .with("stride", t(self.stride))
            .with("dilate", t(self.dilate))
            .with("pad", t(self.pad))
            .with("num_filter", Attr::Int(self.num_filter as i64))
            .with("num_group", Attr::Int(self.num_group as i64))
            .with(
                "num_deformable_group",
                Attr::Int(self.num_deformable_group as i64),
            )
            .with("workspace", Attr::Int(self.workspace))
            .with("no_bias", Attr::Bool(self.no_bias))
            .with("layout", Attr::None)
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let d = self.check(i)?;
        Ok(vec![Meta::new(vec![d.n, d.f, d.ho, d.wo], i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let d = self.check(&metas)?;
        let shape = [d.n, d.f, d.ho, d.wo];
        let dt = x[0].dtype();
        let t = if work_dtype(dt) == DType::F64 {
            Tensor::from_vec(forward_typed::<f64>(self, x, d)?, &shape)?
        } else {
            Tensor::from_vec(forward_typed::<f32>(self, x, d)?, &shape)?.cast_to(dt)?
        };
        Ok(vec![t])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let need: Vec<bool> = (0..self.n_inputs()).map(|i| ctx.needs_grad(i)).collect();
        let mut ins: Vec<&Tensor> = vec![&g];
        ins.extend(ctx.inputs.iter());
        let grads = apply(
            Arc::new(DeformConvGrad {
                conv: self.clone(),
                need,
            }),
            &ins,
        )?;
        Ok(grads
            .into_iter()
            .enumerate()
            .map(|(i, t)| ctx.needs_grad(i).then_some(t))
            .collect())
    }
}

/// `_backward_DeformableConvolution` / `_backward_ModulatedDeformableConvolution`:
/// `(grad_out, data, offset, [mask], weight, [bias]) -> gradients of the inputs` (zeros for
/// those not needed).
pub struct DeformConvGrad {
    pub conv: DeformConv,
    pub need: Vec<bool>,
}

impl DeformConvGrad {
    fn need(&self, i: usize) -> bool {
        self.need.get(i).copied().unwrap_or(true)
    }
}

#[allow(clippy::type_complexity)]
fn backward_typed<T: Real + GemmElem>(
    gr: &DeformConvGrad,
    gy: &Tensor,
    x: &[Tensor],
    d: Dims,
) -> Result<Vec<Vec<T>>> {
    let cv = &gr.conv;
    let kk = cv.kernel[0] * cv.kernel[1];
    let ll = d.l();
    let hw = d.h * d.w;
    let (cg, fg) = (d.c / d.groups, d.f / d.groups);
    let wi = cv.wi();
    let vec_of =
        |t: &Tensor| -> Result<Vec<T>> { t.cast_to(T::DTYPE)?.contiguous()?.to_vec::<T>() };
    let gys = vec_of(gy)?;
    let xs = vec_of(&x[0])?;
    let offs = vec_of(&x[1])?;
    let masks = match cv.modulated {
        true => Some(vec_of(&x[2])?),
        false => None,
    };
    let ws = vec_of(&x[wi])?;
    let (ofs, ms) = (2 * d.dgroups * kk * ll, d.dgroups * kk * ll);
    let need_x = gr.need(0);
    let need_off = gr.need(1);
    let need_mask = cv.modulated && gr.need(2);
    let need_w = gr.need(wi);
    let need_b = !cv.no_bias && gr.need(wi + 1);
    let mut dx = vec![T::zero(); if need_x { xs.len() } else { 0 }];
    let mut doff = vec![T::zero(); if need_off { offs.len() } else { 0 }];
    let mut dmask = vec![T::zero(); if need_mask { d.n * ms } else { 0 }];
    let mut dw = vec![T::zero(); if need_w { ws.len() } else { 0 }];
    let mut dwb = vec![T::zero(); if need_w { ws.len() } else { 0 }];
    let mut col = vec![T::zero(); d.c * kk * ll];
    let mut gcol = vec![T::zero(); d.c * kk * ll];
    let cpg = d.c / d.dgroups;
    for b in 0..d.n {
        let s = Sampler {
            d,
            cv,
            off: &offs[b * ofs..(b + 1) * ofs],
            mask: masks.as_ref().map(|m| &m[b * ms..(b + 1) * ms]),
        };
        let xb = &xs[b * d.c * hw..(b + 1) * d.c * hw];
        let gyb = &gys[b * d.f * ll..(b + 1) * d.f * ll];
        if need_w {
            // dW_g += gy_g (fg x L) col_g^T (L x cg*kk)
            im2col(xb, &s, &mut col);
            group_gemm(
                d.groups,
                (fg, cg * kk, ll),
                gyb,
                (fg * ll, ll as isize, 1),
                &col,
                (cg * kk * ll, 1, ll as isize),
                &mut dwb,
            )?;
            dw.iter_mut().zip(&dwb).for_each(|(a, &v)| *a = *a + v);
        }
        if !(need_x || need_off || need_mask) {
            continue;
        }
        // gcol_g (cg*kk x L) = W_g^T (cg*kk x fg) gy_g (fg x L)
        group_gemm(
            d.groups,
            (cg * kk, ll, fg),
            &ws,
            (fg * cg * kk, 1, (cg * kk) as isize),
            gyb,
            (fg * ll, ll as isize, 1),
            &mut gcol,
        )?;
        let work = gcol.len() * 8;
        if need_x {
            // Each channel's samples scatter into its own plane only.
            let dxb = &mut dx[b * d.c * hw..(b + 1) * d.c * hw];
            let one = |c: usize, dp: &mut [T]| {
                let dgi = c / cpg;
                for kp in 0..kk {
                    let gc = &gcol[(c * kk + kp) * ll..(c * kk + kp + 1) * ll];
                    for (l, &gv) in gc.iter().enumerate() {
                        let (y, xx, m) = s.pos(dgi, kp, l);
                        if !inside(y, xx, d.h, d.w) {
                            continue;
                        }
                        let v = gv * m;
                        let (yl, xl) = (y.floor(), xx.floor());
                        let (ly, lx) = (y - yl, xx - xl);
                        let (hy, hx) = (T::one() - ly, T::one() - lx);
                        let (y0, x0) = (yl.f() as isize, xl.f() as isize);
                        for (r, cc, wt) in [
                            (y0, x0, hy * hx),
                            (y0, x0 + 1, hy * lx),
                            (y0 + 1, x0, ly * hx),
                            (y0 + 1, x0 + 1, ly * lx),
                        ] {
                            if r >= 0 && cc >= 0 && (r as usize) < d.h && (cc as usize) < d.w {
                                let k = r as usize * d.w + cc as usize;
                                dp[k] = dp[k] + v * wt;
                            }
                        }
                    }
                }
            };
            if cpu::parallel(work) {
                dxb.par_chunks_mut(hw.max(1))
                    .enumerate()
                    .for_each(|(c, dp)| one(c, dp));
            } else {
                dxb.chunks_mut(hw.max(1))
                    .enumerate()
                    .for_each(|(c, dp)| one(c, dp));
            }
        }
        if need_off || need_mask {
            // One (deformable group, kernel position) owns two offset rows and one mask row.
            let mut scratch_off = Vec::new();
            let mut scratch_mask = Vec::new();
            let ob: &mut [T] = if need_off {
                &mut doff[b * ofs..(b + 1) * ofs]
            } else {
                scratch_off.resize(ofs, T::zero());
                &mut scratch_off
            };
            let mb: &mut [T] = if need_mask {
                &mut dmask[b * ms..(b + 1) * ms]
            } else {
                scratch_mask.resize(ms, T::zero());
                &mut scratch_mask
            };
            let one = |q: usize, orow: &mut [T], mrow: &mut [T]| {
                let (dgi, kp) = (q / kk, q % kk);
                let (oy, ox) = orow.split_at_mut(ll);
                for c in dgi * cpg..(dgi + 1) * cpg {
                    let plane = &xb[c * hw..(c + 1) * hw];
                    let gc = &gcol[(c * kk + kp) * ll..(c * kk + kp + 1) * ll];
                    for (l, &gv) in gc.iter().enumerate() {
                        let (y, xx, m) = s.pos(dgi, kp, l);
                        if !inside(y, xx, d.h, d.w) {
                            continue;
                        }
                        let (yl, xl) = (y.floor(), xx.floor());
                        let (ly, lx) = (y - yl, xx - xl);
                        let (hy, hx) = (T::one() - ly, T::one() - lx);
                        let (y0, x0) = (yl.f() as isize, xl.f() as isize);
                        let at = |r: isize, cc: isize| -> T {
                            if r >= 0 && cc >= 0 && (r as usize) < d.h && (cc as usize) < d.w {
                                plane[r as usize * d.w + cc as usize]
                            } else {
                                T::zero()
                            }
                        };
                        let (v1, v2, v3, v4) = (
                            at(y0, x0),
                            at(y0, x0 + 1),
                            at(y0 + 1, x0),
                            at(y0 + 1, x0 + 1),
                        );
                        let gm = gv * m;
                        oy[l] = oy[l] + gm * (hx * (v3 - v1) + lx * (v4 - v2));
                        ox[l] = ox[l] + gm * (hy * (v2 - v1) + ly * (v4 - v3));
                        mrow[l] = mrow[l]
                            + gv * (hy * hx * v1 + hy * lx * v2 + ly * hx * v3 + ly * lx * v4);
                    }
                }
            };
            if cpu::parallel(work) {
                ob.par_chunks_mut(2 * ll)
                    .zip(mb.par_chunks_mut(ll))
                    .enumerate()
                    .for_each(|(q, (o, m))| one(q, o, m));
            } else {
                ob.chunks_mut(2 * ll)
                    .zip(mb.chunks_mut(ll))
                    .enumerate()
                    .for_each(|(q, (o, m))| one(q, o, m));
            }
        }
    }
    let mut db = vec![T::zero(); if need_b { d.f } else { 0 }];
    if need_b {
        for (r, row) in gys.chunks(ll.max(1)).enumerate() {
            let f = r % d.f;
            db[f] = row.iter().fold(db[f], |a, &v| a + v);
        }
    }
    let mut outs = vec![dx, doff];
    if cv.modulated {
        outs.push(dmask);
    }
    outs.push(dw);
    if !cv.no_bias {
        outs.push(db);
    }
    Ok(outs)
}

impl Op for DeformConvGrad {
    fn name(&self) -> &'static str {
        if self.conv.modulated {
            "_backward_ModulatedDeformableConvolution"
        } else {
            "_backward_DeformableConvolution"
        }
    }
    fn attrs(&self) -> Attrs {
        self.conv.attrs()
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let d = self.conv.check(&i[1..])?;
        if i[0].shape.as_slice() != [d.n, d.f, d.ho, d.wo] {
            return Err(Error::shape(
                self.conv.op(),
                format!(
                    "output gradient has shape {}, expected {}",
                    sh(&i[0].shape),
                    sh(&[d.n, d.f, d.ho, d.wo])
                ),
            ));
        }
        Ok(i[1..].to_vec())
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        self.infer(&metas)?;
        let d = self.conv.check(&metas[1..])?;
        let dt = x[1].dtype();
        let ins = &x[1..];
        macro_rules! finish {
            ($v:expr) => {{
                let mut out = Vec::new();
                for (k, v) in $v.into_iter().enumerate() {
                    let shape = ins[k].shape();
                    let t = if v.is_empty() && !ins[k].shape().is_empty() && ins[k].numel() > 0 {
                        Tensor::zeros(shape, dt, ins[k].device())?
                    } else {
                        Tensor::from_vec(v, shape)?.cast_to(dt)?
                    };
                    out.push(t);
                }
                out
            }};
        }
        Ok(if work_dtype(dt) == DType::F64 {
            finish!(backward_typed::<f64>(self, &x[0], ins, d)?)
        } else {
            finish!(backward_typed::<f32>(self, &x[0], ins, d)?)
        })
    }
    fn backward(&self, _ctx: &Ctx, _g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        Err(Error::Autograd(format!(
            "{}: higher-order gradients are not supported",
            self.conv.op()
        )))
    }
}

fn pair(a: &Attrs, op: &str, key: &str, default: usize, min: i64) -> Result<[usize; 2]> {
    let v = a.ints(op, key, &[default as i64, default as i64])?;
    let v = if v.len() == 1 { vec![v[0], v[0]] } else { v };
    if v.len() != 2 {
        return Err(Error::value(
            op,
            format!("{key} must be 2-D (h, w) for NCHW deformable convolution, got {v:?}"),
        ));
    }
    if v.iter().any(|&d| d < min) {
        return Err(Error::value(
            op,
            format!(
                "{key} must be {}, got ({}, {})",
                if min == 0 { "non-negative" } else { "positive" },
                v[0],
                v[1]
            ),
        ));
    }
    Ok([v[0] as usize, v[1] as usize])
}

fn build(a: &Attrs, modulated: bool) -> Result<Arc<dyn Op>> {
    let op = if modulated {
        "ModulatedDeformableConvolution"
    } else {
        "DeformableConvolution"
    };
    let kernel = match a.opt_ints(op, "kernel")? {
        None => return Err(Error::value(op, "argument kernel is required")),
        Some(k) if k.len() != 2 => {
            return Err(Error::value(
                op,
                format!("kernel must be 2-D (kh, kw), got {k:?}: only NCHW data is supported"),
            ))
        }
        Some(_) => pair(a, op, "kernel", 1, 1)?,
    };
    if let Some(l) = a.opt_str("layout") {
        if l != "NCHW" {
            return Err(Error::value(
                op,
                format!("layout {l} is not supported: deformable convolution takes NCHW data only"),
            ));
        }
    }
    let count = |key: &str, default: i64| -> Result<usize> {
        let v = a.int(op, key, default)?;
        if v < 1 {
            return Err(Error::value(op, format!("{key} must be positive, got {v}")));
        }
        Ok(v as usize)
    };
    Ok(Arc::new(DeformConv {
        modulated,
        kernel,
        stride: pair(a, op, "stride", 1, 1)?,
        dilate: pair(a, op, "dilate", 1, 1)?,
        pad: pair(a, op, "pad", 0, 0)?,
        num_filter: a
            .opt_int(op, "num_filter")?
            .ok_or_else(|| Error::value(op, "argument num_filter is required"))
            .and_then(|_| count("num_filter", 1))?,
        num_group: count("num_group", 1)?,
        num_deformable_group: count("num_deformable_group", 1)?,
        no_bias: a.bool(op, "no_bias", false)?,
        workspace: a.int(op, "workspace", 1024)?,
    }))
}

fn deform_builder(a: &Attrs) -> Result<Arc<dyn Op>> {
    build(a, false)
}

fn modulated_builder(a: &Attrs) -> Result<Arc<dyn Op>> {
    build(a, true)
}

pub fn register(r: &mut Registry) {
    for n in [
        "deformable_convolution",
        "DeformableConvolution",
        "_npx_deformable_convolution",
        "_contrib_DeformableConvolution",
    ] {
        r.insert(n, deform_builder);
    }
    for n in [
        "modulated_deformable_convolution",
        "ModulatedDeformableConvolution",
        "_npx_modulated_deformable_convolution",
        "_contrib_ModulatedDeformableConvolution",
    ] {
        r.insert(n, modulated_builder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::invoke;

    /// Direct convolution (NCHW, groups) in f64.
    #[allow(clippy::too_many_arguments)]
    fn conv_ref(
        x: &[f64],
        (n, c, h, w): (usize, usize, usize, usize),
        wt: &[f64],
        f: usize,
        k: [usize; 2],
        s: [usize; 2],
        p: [usize; 2],
        dl: [usize; 2],
        groups: usize,
    ) -> Vec<f64> {
        let ho = (h + 2 * p[0] - dl[0] * (k[0] - 1) - 1) / s[0] + 1;
        let wo = (w + 2 * p[1] - dl[1] * (k[1] - 1) - 1) / s[1] + 1;
        let (cg, fg) = (c / groups, f / groups);
        let mut out = vec![0.0; n * f * ho * wo];
        for b in 0..n {
            for o in 0..f {
                let g = o / fg;
                for i in 0..ho {
                    for j in 0..wo {
                        let mut acc = 0.0;
                        for ci in 0..cg {
                            let cc = g * cg + ci;
                            for a in 0..k[0] {
                                for bb in 0..k[1] {
                                    let y = (i * s[0] + a * dl[0]) as isize - p[0] as isize;
                                    let xx = (j * s[1] + bb * dl[1]) as isize - p[1] as isize;
                                    if y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w {
                                        acc += x[((b * c + cc) * h + y as usize) * w + xx as usize]
                                            * wt[((o * cg + ci) * k[0] + a) * k[1] + bb];
                                    }
                                }
                            }
                        }
                        out[((b * f + o) * ho + i) * wo + j] = acc;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn zero_offsets_give_a_plain_convolution() {
        let (n, c, h, w, f) = (2, 4, 6, 5, 6);
        let (k, s, p, dl, groups, dg) = ([3, 2], [2, 1], [1, 1], [1, 2], 2, 2);
        let xs: Vec<f64> = (0..n * c * h * w)
            .map(|i| ((i * 13) % 17) as f64 * 0.1 - 0.8)
            .collect();
        let wt: Vec<f64> = (0..f * (c / groups) * 6)
            .map(|i| ((i * 7) % 11) as f64 * 0.1 - 0.5)
            .collect();
        let want = conv_ref(&xs, (n, c, h, w), &wt, f, k, s, p, dl, groups);
        let ho = (h + 2 - 2 - 1) / 2 + 1;
        let wo = (w + 2 - 2 - 1) + 1;
        let x = Tensor::from_vec(xs, &[n, c, h, w]).unwrap();
        let off =
            Tensor::zeros(&[n, 2 * dg * 6, ho, wo], DType::F64, crate::Device::Cpu(0)).unwrap();
        let mask =
            Tensor::full(&[n, dg * 6, ho, wo], 1.0, DType::F64, crate::Device::Cpu(0)).unwrap();
        let wtt = Tensor::from_vec(wt, &[f, c / groups, 3, 2]).unwrap();
        let a = Attrs::new()
            .with("kernel", Attr::Ints(vec![3, 2]))
            .with("stride", Attr::Ints(vec![2, 1]))
            .with("pad", Attr::Ints(vec![1, 1]))
            .with("dilate", Attr::Ints(vec![1, 2]))
            .with("num_filter", Attr::Int(f as i64))
            .with("num_group", Attr::Int(groups as i64))
            .with("num_deformable_group", Attr::Int(dg as i64))
            .with("no_bias", Attr::Bool(true));
        let y = invoke("deformable_convolution", &[&x, &off, &wtt], &a)
            .unwrap()
            .remove(0);
        assert_eq!(y.shape().as_slice(), &[n, f, ho, wo]);
        for (g, e) in y.to_f64_vec().unwrap().iter().zip(&want) {
            assert!((g - e).abs() < 1e-12, "{g} vs {e}");
        }
        let y2 = invoke(
            "_contrib_ModulatedDeformableConvolution",
            &[&x, &off, &mask, &wtt],
            &a,
        )
        .unwrap()
        .remove(0);
        for (g, e) in y2.to_f64_vec().unwrap().iter().zip(&want) {
            assert!((g - e).abs() < 1e-12, "{g} vs {e}");
        }
    }

    #[test]
    fn shape_errors_name_the_op() {
        let x = Tensor::zeros(&[1, 2, 4, 4], DType::F32, crate::Device::Cpu(0)).unwrap();
        let off = Tensor::zeros(&[1, 8, 3, 3], DType::F32, crate::Device::Cpu(0)).unwrap();
        let wt = Tensor::zeros(&[3, 2, 2, 2], DType::F32, crate::Device::Cpu(0)).unwrap();
        let a = Attrs::new()
            .with("kernel", Attr::Str("(2, 2)".into()))
            .with("num_filter", Attr::Str("3".into()))
            .with("no_bias", Attr::Str("True".into()));
        assert!(invoke("DeformableConvolution", &[&x, &off, &wt], &a).is_ok());
        let bad = Tensor::zeros(&[1, 6, 3, 3], DType::F32, crate::Device::Cpu(0)).unwrap();
        let e = invoke("DeformableConvolution", &[&x, &bad, &wt], &a)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("DeformableConvolution") && e.contains("(1, 8, 3, 3)"),
            "{e}"
        );
    }
}
