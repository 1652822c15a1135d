//! Random sampling. One process-wide generator, behind a mutex, hands each sampling call a fresh
//! 64-bit key; element `i` of that call then draws from a counter-based stream
//! (SplitMix64 of `key + (i + 1) * golden`), so large arrays fill in parallel and the numbers do
//! not depend on the thread count. `seed(n)` resets the generator: the same seed gives the same
//! numbers. Rejection samplers (gamma, poisson) run a small sequential SplitMix64 per element.
//!
//! Other ops that need randomness (dropout, ...) take a `Stream::new()` and read `uniform(i)`.
//!
//! Sampling ops take no gradient. Distribution parameters are numbers, or tensors broadcast
//! against each other and `size` (MXNet's `_npi_uniform(low, high, low=None, ...)` convention: an
//! attribute given as None means "the next input").
use super::{Attr, Attrs, Meta, Op, Registry};
use crate::layout::{broadcast_shapes, numel};
use crate::storage::CpuElement;
use crate::{with_dtype, DType, Element, Error, Result, Tensor};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
/// The generator's state before any `seed` call (MXNet also starts from a fixed seed).
const DEFAULT_SEED: u64 = 0;

#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

static STATE: Mutex<Option<u64>> = Mutex::new(None);

fn initial(seed: u64) -> u64 {
    mix64(seed ^ 0x6A09_E667_F3BC_C909)
}

/// Reset the global generator: afterwards the same calls give the same numbers.
pub fn seed(s: u64) {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(initial(s));
}

/// A fresh key from the global generator (advances it).
pub fn next_key() -> u64 {
    let mut st = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let s = st.get_or_insert_with(|| initial(DEFAULT_SEED));
    *s = s.wrapping_add(GOLDEN);
    mix64(*s)
}

/// A counter-based stream of random numbers: any element can be drawn independently.
#[derive(Clone, Copy, Debug)]
pub struct Stream {
    key: u64,
}

impl Stream {
    /// A new stream keyed by the global generator.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Stream {
        Stream { key: next_key() }
    }
    pub fn with_key(key: u64) -> Stream {
        Stream { key }
    }
    #[inline]
    pub fn u64(&self, i: u64) -> u64 {
        mix64(
            self.key
                .wrapping_add(i.wrapping_add(1).wrapping_mul(GOLDEN)),
        )
    }
    /// Uniform in [0, 1) with 53 random bits.
    #[inline]
    pub fn uniform(&self, i: u64) -> f64 {
        to_unit(self.u64(i))
    }
    /// A sequential generator for element `i` (for rejection sampling).
    #[inline]
    pub fn rng(&self, i: u64) -> Rng {
        Rng(mix64(self.u64(i) ^ 0xD1B5_4A32_D192_ED03))
    }
}

#[inline]
fn to_unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// SplitMix64, sequential.
pub struct Rng(u64);

impl Rng {
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }
    /// Uniform in [0, 1).
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        to_unit(self.next_u64())
    }
    /// Standard normal (Box-Muller, one of the pair).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    /// Gamma(shape, 1): Marsaglia and Tsang, with the boost u^(1/shape) for shape < 1.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape.is_nan() || shape <= 0.0 {
            return if shape == 0.0 { 0.0 } else { f64::NAN };
        }
        if shape < 1.0 {
            let u = 1.0 - self.uniform();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let mut x: f64;
            let mut v: f64;
            loop {
                x = self.normal();
                v = 1.0 + c * x;
                if v > 0.0 {
                    break;
                }
            }
            v = v * v * v;
            let u = self.uniform();
            if u < 1.0 - 0.0331 * x * x * x * x {
                return d * v;
            }
            if u > 0.0 && u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
                return d * v;
            }
        }
    }
    /// Poisson(lam): multiplication for small lam, Hörmann's PTRS otherwise.
    pub fn poisson(&mut self, lam: f64) -> f64 {
        if lam.is_nan() || lam < 0.0 {
            return f64::NAN;
        }
        if lam == 0.0 {
            return 0.0;
        }
        if lam < 10.0 {
            let l = (-lam).exp();
            let (mut k, mut p) = (0.0, 1.0);
            loop {
                p *= self.uniform();
                if p <= l {
                    return k;
                }
                k += 1.0;
            }
        }
        let slam = lam.sqrt();
        let loglam = lam.ln();
        let b = 0.931 + 2.53 * slam;
        let a = -0.059 + 0.02483 * b;
        let invalpha = 1.1239 + 1.1328 / (b - 3.4);
        let vr = 0.9277 - 3.6224 / (b - 2.0);
        loop {
            let u = self.uniform() - 0.5;
            let v = self.uniform();
            let us = 0.5 - u.abs();
            let k = ((2.0 * a / us + b) * u + lam + 0.43).floor();
            if us >= 0.07 && v <= vr {
                return k;
            }
            if k < 0.0 || (us < 0.013 && v > us) {
                continue;
            }
            if v.ln() + invalpha.ln() - (a / (us * us) + b).ln()
                <= -lam + k * loglam - ln_gamma(k + 1.0)
            {
                return k;
            }
        }
    }
}

/// ln Γ(x) for x >= 1 (Stirling's series after shifting x up to 10).
fn ln_gamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= x.ln();
        x += 1.0;
    }
    let x2 = 1.0 / (x * x);
    acc + (x - 0.5) * x.ln() - x
        + 0.5 * (std::f64::consts::TAU).ln()
        + (1.0 / 12.0 - x2 * (1.0 / 360.0 - x2 * (1.0 / 1260.0 - x2 / 1680.0))) / x
}

/// Fill `n` elements in parallel: `f(i)` gives element `i` as f64.
fn fill<D: Element + CpuElement, F: Fn(usize) -> f64 + Sync + Send>(n: usize, f: F) -> Vec<D> {
    if crate::backend::cpu::parallel(n) {
        (0..n)
            .into_par_iter()
            .with_min_len(4096)
            .map(|i| D::from_f64(f(i)))
            .collect()
    } else {
        (0..n).map(|i| D::from_f64(f(i))).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Distributions with numeric or tensor parameters

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Param {
    Value(f64),
    Input,
}

impl Param {
    fn attr(self) -> Attr {
        match self {
            Param::Value(v) => Attr::Float(v),
            Param::Input => Attr::None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dist {
    /// low, high
    Uniform,
    /// loc, scale
    Normal,
    /// shape, scale
    Gamma,
    /// scale
    Exponential,
    /// lam
    Poisson,
    /// prob (or logit)
    Bernoulli { logit: bool },
}

/// A sampling op: `dist` with its parameters, output `size` (None: the parameters' broadcast
/// shape) and `dtype`.
pub struct Sample {
    pub dist: Dist,
    pub name: &'static str,
    pub mxnet_name: &'static str,
    pub keys: [&'static str; 2],
    pub params: Vec<Param>,
    pub size: Option<Vec<usize>>,
    pub size_key: &'static str,
    pub dtype: DType,
}

impl Sample {
    fn n_inputs(&self) -> usize {
        self.params.iter().filter(|p| **p == Param::Input).count()
    }
    fn out_shape(&self, shapes: &[&[usize]]) -> Result<Vec<usize>> {
        let mut b: Vec<usize> = vec![];
        for s in shapes {
            b = broadcast_shapes(self.name, &b, s)?;
        }
        match &self.size {
            None => Ok(b),
            Some(size) => {
                let ok = broadcast_shapes(self.name, size, &b).map(|s| &s == size);
                if !matches!(ok, Ok(true)) {
                    return Err(Error::shape(
                        self.name,
                        format!("parameters of shape {b:?} do not broadcast to size {size:?}"),
                    ));
                }
                Ok(size.clone())
            }
        }
    }
}

impl Op for Sample {
    fn name(&self) -> &'static str {
        self.name
    }
    fn mxnet_name(&self) -> &'static str {
        self.mxnet_name
    }
    fn attrs(&self) -> Attrs {
        let mut a = Attrs::new();
        for (k, p) in self.keys.iter().zip(&self.params) {
            a.set(k, p.attr());
        }
        if let Dist::Bernoulli { logit } = self.dist {
            a.set("is_logit", Attr::Bool(logit));
        }
        a.with(
            self.size_key,
            self.size.as_ref().map_or(Attr::None, |s| {
                Attr::Ints(s.iter().map(|&d| d as i64).collect())
            }),
        )
        .with("dtype", Attr::Str(self.dtype.name().into()))
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        if i.len() != self.n_inputs() {
            return Err(Error::value(
                self.name,
                format!(
                    "expected {} parameter array(s), got {}",
                    self.n_inputs(),
                    i.len()
                ),
            ));
        }
        let shapes: Vec<&[usize]> = i.iter().map(|m| m.shape.as_slice()).collect();
        Ok(vec![Meta::new(self.out_shape(&shapes)?, self.dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let shape = self.infer(&metas)?.swap_remove(0).shape;
        let n = numel(&shape);
        // Parameters as per-element vectors (broadcast) or constants.
        let mut inputs = x.iter();
        let mut vals: Vec<Result<Vec<f64>>> = Vec::new();
        let mut consts = [0f64; 2];
        for (k, p) in self.params.iter().enumerate() {
            match p {
                Param::Value(v) => consts[k] = *v,
                Param::Input => {
                    let t = inputs.next().expect("checked by infer");
                    let l = t.layout().broadcast_to(self.name, &shape)?;
                    vals.push(t.with_layout(l).to_f64_vec());
                }
            }
        }
        let mut vecs: Vec<Option<Vec<f64>>> = vec![None, None];
        let mut it = vals.into_iter();
        for (k, p) in self.params.iter().enumerate() {
            if *p == Param::Input {
                vecs[k] = Some(it.next().expect("one per input")?);
            }
        }
        let get = |k: usize, i: usize| match &vecs[k] {
            Some(v) => v[i],
            None => consts[k],
        };
        let s = Stream::new();
        let dist = self.dist;
        let f = |i: usize| -> f64 {
            let iu = i as u64;
            match dist {
                Dist::Uniform => {
                    let (lo, hi) = (get(0, i), get(1, i));
                    lo + (hi - lo) * s.uniform(iu)
                }
                Dist::Normal => {
                    // Box-Muller on the pair (i / 2): cos for even i, sin for odd.
                    let p = iu / 2;
                    let u1 = 1.0 - s.uniform(2 * p);
                    let u2 = s.uniform(2 * p + 1);
                    let r = (-2.0 * u1.ln()).sqrt();
                    let th = std::f64::consts::TAU * u2;
                    let z = if iu % 2 == 0 {
                        r * th.cos()
                    } else {
                        r * th.sin()
                    };
                    get(0, i) + get(1, i) * z
                }
                Dist::Gamma => s.rng(iu).gamma(get(0, i)) * get(1, i),
                Dist::Exponential => -(1.0 - s.uniform(iu)).ln() * get(0, i),
                Dist::Poisson => s.rng(iu).poisson(get(0, i)),
                Dist::Bernoulli { logit } => {
                    let v = get(0, i);
                    let p = if logit { 1.0 / (1.0 + (-v).exp()) } else { v };
                    (s.uniform(iu) < p) as u8 as f64
                }
            }
        };
        let data = with_dtype!(self.dtype, D, {
            let mut v: Vec<D> = fill(n, f);
            if dist == Dist::Uniform && !self.dtype.is_int() && self.dtype != DType::F64 {
                // Rounding to a narrow float can reach `high`: keep the interval half-open.
                for (i, e) in v.iter_mut().enumerate() {
                    let (lo, hi) = (get(0, i), get(1, i));
                    if hi > lo && e.to_f64() >= hi {
                        *e = D::from_f64(lo);
                    }
                }
            }
            D::wrap(v)
        });
        Ok(vec![Tensor::from_cpu(data, &shape)?])
    }
}

// ---------------------------------------------------------------------------------------------
// randint

/// Integers uniform in [low, high).
pub struct Randint {
    pub name: &'static str,
    pub mxnet_name: &'static str,
    pub low: i64,
    pub high: i64,
    pub size: Vec<usize>,
    pub size_key: &'static str,
    pub dtype: DType,
}

impl Op for Randint {
    fn name(&self) -> &'static str {
        self.name
    }
    fn mxnet_name(&self) -> &'static str {
        self.mxnet_name
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("low", Attr::Int(self.low))
            .with("high", Attr::Int(self.high))
            .with(
                self.size_key,
                Attr::Ints(self.size.iter().map(|&d| d as i64).collect()),
            )
            .with("dtype", Attr::Str(self.dtype.name().into()))
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        if !i.is_empty() {
            return Err(Error::value(self.name, "takes no array inputs"));
        }
        if self.high <= self.low {
            return Err(Error::value(
                self.name,
                format!("low >= high (low={}, high={})", self.low, self.high),
            ));
        }
        if self.dtype.is_float() || self.dtype == DType::Bool {
            return Err(Error::dtype(
                self.name,
                format!("dtype must be an integer type, not {}", self.dtype),
            ));
        }
        Ok(vec![Meta::new(self.size.clone(), self.dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        self.infer(&metas)?;
        let n = numel(&self.size);
        let range = (self.high as i128 - self.low as i128) as u128;
        let low = self.low;
        let s = Stream::new();
        let gen = |i: usize| -> i64 {
            let r = ((s.u64(i as u64) as u128 * range) >> 64) as i128;
            (low as i128 + r) as i64
        };
        let v: Vec<i64> = if crate::backend::cpu::parallel(n) {
            (0..n).into_par_iter().with_min_len(4096).map(gen).collect()
        } else {
            (0..n).map(gen).collect()
        };
        let t = Tensor::from_vec(v, &self.size)?;
        Ok(vec![if self.dtype == DType::I64 {
            t
        } else {
            t.cast_copy(self.dtype)?
        }])
    }
}

// ---------------------------------------------------------------------------------------------
// choice, shuffle

/// `choice(a, size, replace, p)`: indices into `arange(a)` (int64) when `a` is a number, or the
/// chosen elements of a 1-D input array. With `weighted`, the last input is `p`.
pub struct Choice {
    pub a: Option<i64>,
    pub size: Option<Vec<usize>>,
    pub replace: bool,
    pub weighted: bool,
}

impl Choice {
    fn population(&self, i: &[Meta]) -> Result<usize> {
        let want = self.a.is_none() as usize + self.weighted as usize;
        if i.len() != want {
            return Err(Error::value(
                "choice",
                format!("expected {want} array input(s), got {}", i.len()),
            ));
        }
        let n = match self.a {
            Some(a) if a < 0 => {
                return Err(Error::value("choice", "a must be non-negative"));
            }
            Some(a) => a as usize,
            None => {
                if i[0].shape.len() != 1 {
                    return Err(Error::value(
                        "choice",
                        format!("a must be 1-dimensional, got shape {:?}", i[0].shape),
                    ));
                }
                i[0].shape[0]
            }
        };
        if self.weighted {
            let p = &i[i.len() - 1];
            if p.shape.as_slice() != [n] {
                return Err(Error::value(
                    "choice",
                    format!(
                        "p must be 1-dimensional of length {n}, got shape {:?}",
                        p.shape
                    ),
                ));
            }
        }
        let k = self.size.as_ref().map_or(1, |s| numel(s));
        if n == 0 && k > 0 {
            return Err(Error::value(
                "choice",
                "a cannot be empty unless no samples are taken",
            ));
        }
        if !self.replace && k > n {
            return Err(Error::value(
                "choice",
                format!(
                    "cannot take a larger sample ({k}) than population ({n}) when replace=False"
                ),
            ));
        }
        Ok(n)
    }

    fn indices(&self, n: usize, k: usize, p: Option<Vec<f64>>) -> Result<Vec<i64>> {
        let s = Stream::new();
        if let Some(p) = p {
            if p.iter().any(|v| !(*v >= 0.0) || !v.is_finite()) {
                return Err(Error::value(
                    "choice",
                    "probabilities must be non-negative and finite",
                ));
            }
            let total: f64 = p.iter().sum();
            if (total - 1.0).abs() > 1e-6 * (n as f64).max(1.0) {
                return Err(Error::value(
                    "choice",
                    format!("probabilities do not sum to 1 (sum {total})"),
                ));
            }
            if self.replace {
                let mut cdf = Vec::with_capacity(n);
                let mut acc = 0.0;
                for v in &p {
                    acc += v;
                    cdf.push(acc);
                }
                return Ok((0..k)
                    .map(|i| {
                        let u = s.uniform(i as u64) * acc;
                        let j = cdf.partition_point(|&c| c <= u);
                        // skip zero-probability entries at the top edge
                        let mut j = j.min(n - 1);
                        while p[j] == 0.0 && j > 0 {
                            j -= 1;
                        }
                        j as i64
                    })
                    .collect());
            }
            // Without replacement: Efraimidis-Spirakis keys ln(u) / w, the k largest in order
            // (the same law as drawing one at a time and renormalising).
            let nonzero = p.iter().filter(|v| **v > 0.0).count();
            if nonzero < k {
                return Err(Error::value(
                    "choice",
                    "fewer non-zero entries in p than size",
                ));
            }
            let mut keys: Vec<(f64, usize)> = p
                .iter()
                .enumerate()
                .filter(|(_, w)| **w > 0.0)
                .map(|(j, w)| ((1.0 - s.uniform(j as u64)).ln() / w, j))
                .collect();
            keys.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
            return Ok(keys[..k].iter().map(|&(_, j)| j as i64).collect());
        }
        if self.replace {
            let nn = n as u128;
            return Ok((0..k)
                .map(|i| ((s.u64(i as u64) as u128 * nn) >> 64) as i64)
                .collect());
        }
        // Fisher-Yates, partial; sparse (a map of the swapped slots) when k is much smaller than n.
        let pick = |i: usize| i + ((s.u64(i as u64) as u128 * (n - i) as u128) >> 64) as usize;
        if n <= 4 * k || n <= 1 << 16 {
            let mut v: Vec<i64> = (0..n as i64).collect();
            for i in 0..k {
                v.swap(i, pick(i));
            }
            v.truncate(k);
            Ok(v)
        } else {
            let mut m: std::collections::HashMap<usize, usize> = Default::default();
            let mut out = Vec::with_capacity(k);
            for i in 0..k {
                let j = pick(i);
                let vj = *m.get(&j).unwrap_or(&j);
                let vi = *m.get(&i).unwrap_or(&i);
                m.insert(j, vi);
                out.push(vj as i64);
            }
            Ok(out)
        }
    }
}

impl Op for Choice {
    fn name(&self) -> &'static str {
        "choice"
    }
    fn mxnet_name(&self) -> &'static str {
        "_npi_choice"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("a", self.a.map_or(Attr::None, Attr::Int))
            .with(
                "size",
                self.size.as_ref().map_or(Attr::None, |s| {
                    Attr::Ints(s.iter().map(|&d| d as i64).collect())
                }),
            )
            .with("replace", Attr::Bool(self.replace))
            .with("weighted", Attr::Bool(self.weighted))
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        self.population(i)?;
        let dt = if self.a.is_none() {
            i[0].dtype
        } else {
            DType::I64
        };
        Ok(vec![Meta::new(self.size.clone().unwrap_or_default(), dt)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let n = self.population(&metas)?;
        let shape = self.size.clone().unwrap_or_default();
        let k = numel(&shape);
        let p = if self.weighted {
            Some(x[x.len() - 1].to_f64_vec()?)
        } else {
            None
        };
        let idx = self.indices(n, k, p)?;
        if self.a.is_some() {
            return Ok(vec![Tensor::from_vec(idx, &shape)?]);
        }
        let a = &x[0];
        let data = with_dtype!(a.dtype(), T, {
            let v = a.to_vec::<T>()?;
            T::wrap(idx.iter().map(|&j| v[j as usize]).collect())
        });
        Ok(vec![Tensor::from_cpu(data, &shape)?])
    }
}

/// A copy of the input with its rows (axis 0) in random order.
pub struct Shuffle;

impl Op for Shuffle {
    fn name(&self) -> &'static str {
        "shuffle"
    }
    fn mxnet_name(&self) -> &'static str {
        "_shuffle"
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        if i.len() != 1 {
            return Err(Error::value("shuffle", "takes one array"));
        }
        Ok(vec![i[0].clone()])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let a = &x[0];
        if a.ndim() == 0 {
            return Ok(vec![a.contiguous()?.detach()]);
        }
        let n = a.shape()[0];
        let row = if n == 0 { 0 } else { a.numel() / n };
        let perm = Choice {
            a: Some(n as i64),
            size: Some(vec![n]),
            replace: false,
            weighted: false,
        }
        .indices(n, n, None)?;
        let data = with_dtype!(a.dtype(), T, {
            let v = a.to_vec::<T>()?;
            let mut out = Vec::with_capacity(v.len());
            for &j in &perm {
                let j = j as usize;
                out.extend_from_slice(&v[j * row..(j + 1) * row]);
            }
            T::wrap(out)
        });
        Ok(vec![Tensor::from_cpu(data, a.shape())?])
    }
}

// ---------------------------------------------------------------------------------------------
// Registry

/// A distribution parameter: absent gives `default`, given as None means "the next input".
fn param(a: &Attrs, op: &str, key: &str, default: f64) -> Result<Param> {
    match a.0.iter().find(|(k, _)| k == key) {
        None => Ok(Param::Value(default)),
        Some(_) => Ok(match a.opt_float(op, key)? {
            Some(v) => Param::Value(v),
            None => Param::Input,
        }),
    }
}

fn size_attr(a: &Attrs, op: &str, key: &str) -> Result<Option<Vec<usize>>> {
    match a.opt_ints(op, key)? {
        None => Ok(None),
        Some(v) => v
            .into_iter()
            .map(|d| {
                usize::try_from(d).map_err(|_| {
                    Error::value(
                        op,
                        format!("negative dimensions are not allowed ({key}={d})"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
    }
}

fn float_dtype(a: &Attrs, op: &str) -> Result<DType> {
    let d = a.opt_dtype(op, "dtype")?.unwrap_or(DType::F32);
    if !d.is_float() {
        return Err(Error::dtype(
            op,
            format!("dtype must be a float type, not {d}"),
        ));
    }
    Ok(d)
}

#[allow(clippy::too_many_arguments)]
fn sample(
    a: &Attrs,
    dist: Dist,
    name: &'static str,
    mxnet_name: &'static str,
    keys: [&'static str; 2],
    defaults: [f64; 2],
    nparams: usize,
    size_key: &'static str,
    dtype: DType,
) -> Result<Arc<dyn Op>> {
    let mut params = Vec::new();
    for k in 0..nparams {
        params.push(param(a, name, keys[k], defaults[k])?);
    }
    Ok(Arc::new(Sample {
        dist,
        name,
        mxnet_name,
        keys,
        params,
        size: size_attr(a, name, size_key)?,
        size_key,
        dtype,
    }))
}

pub fn register(r: &mut Registry) {
    // MXNet 2.x (mx.np.random): size=, low=None meaning "an input".
    fn uniform(a: &Attrs) -> Result<Arc<dyn Op>> {
        let d = float_dtype(a, "uniform")?;
        sample(
            a,
            Dist::Uniform,
            "uniform",
            "_npi_uniform",
            ["low", "high"],
            [0.0, 1.0],
            2,
            "size",
            d,
        )
    }
    fn normal(a: &Attrs) -> Result<Arc<dyn Op>> {
        let d = float_dtype(a, "normal")?;
        sample(
            a,
            Dist::Normal,
            "normal",
            "_npi_normal",
            ["loc", "scale"],
            [0.0, 1.0],
            2,
            "size",
            d,
        )
    }
    fn gamma(a: &Attrs) -> Result<Arc<dyn Op>> {
        let d = float_dtype(a, "gamma")?;
        sample(
            a,
            Dist::Gamma,
            "gamma",
            "_npi_gamma",
            ["shape", "scale"],
            [1.0, 1.0],
            2,
            "size",
            d,
        )
    }
    fn exponential(a: &Attrs) -> Result<Arc<dyn Op>> {
        let d = float_dtype(a, "exponential")?;
        sample(
            a,
            Dist::Exponential,
            "exponential",
            "_npi_exponential",
            ["scale", ""],
            [1.0, 0.0],
            1,
            "size",
            d,
        )
    }
    fn poisson(a: &Attrs) -> Result<Arc<dyn Op>> {
        let d = a.opt_dtype("poisson", "dtype")?.unwrap_or(DType::F32);
        sample(
            a,
            Dist::Poisson,
            "poisson",
            "_npi_poisson",
            ["lam", ""],
            [1.0, 0.0],
            1,
            "size",
            d,
        )
    }
    fn bernoulli(a: &Attrs) -> Result<Arc<dyn Op>> {
        let d = a.opt_dtype("bernoulli", "dtype")?.unwrap_or(DType::F32);
        let logit = a.bool("bernoulli", "is_logit", false)?;
        let key = if logit { "logit" } else { "prob" };
        let p = param(a, "bernoulli", key, f64::NAN)?;
        if let Param::Value(v) = p {
            if v.is_nan() {
                return Err(Error::value("bernoulli", format!("{key} is required")));
            }
            if !logit && !(0.0..=1.0).contains(&v) {
                return Err(Error::value(
                    "bernoulli",
                    format!("prob={v} is not in [0, 1]"),
                ));
            }
        }
        Ok(Arc::new(Sample {
            dist: Dist::Bernoulli { logit },
            name: "bernoulli",
            mxnet_name: "_npi_bernoulli",
            keys: [key, ""],
            params: vec![p],
            size: size_attr(a, "bernoulli", "size")?,
            size_key: "size",
            dtype: d,
        }))
    }
    fn randint(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(Randint {
            name: "randint",
            mxnet_name: "_npi_random_randint",
            low: a.int("randint", "low", 0)?,
            high: a.req_int("randint", "high")?,
            size: size_attr(a, "randint", "size")?
                .or(size_attr(a, "randint", "shape")?)
                .unwrap_or_default(),
            size_key: "size",
            dtype: a.opt_dtype("randint", "dtype")?.unwrap_or(DType::I64),
        }))
    }
    r.insert("uniform", uniform);
    r.insert("_npi_uniform", uniform);
    r.insert("normal", normal);
    r.insert("_npi_normal", normal);
    r.insert("gamma", gamma);
    r.insert("_npi_gamma", gamma);
    r.insert("exponential", exponential);
    r.insert("_npi_exponential", exponential);
    r.insert("poisson", poisson);
    r.insert("bernoulli", bernoulli);
    r.insert("_npi_bernoulli", bernoulli);
    r.insert("randint", randint);
    r.insert("_npi_random_randint", randint);

    // MXNet 1.x (mx.nd.random): shape=, scalar parameters.
    fn dtype_1x(a: &Attrs, op: &str) -> Result<DType> {
        float_dtype(a, op)
    }
    r.insert("_random_uniform", |a| {
        let d = dtype_1x(a, "_random_uniform")?;
        sample(
            a,
            Dist::Uniform,
            "_random_uniform",
            "_random_uniform",
            ["low", "high"],
            [0.0, 1.0],
            2,
            "shape",
            d,
        )
    });
    r.insert("_random_normal", |a| {
        let d = dtype_1x(a, "_random_normal")?;
        sample(
            a,
            Dist::Normal,
            "_random_normal",
            "_random_normal",
            ["loc", "scale"],
            [0.0, 1.0],
            2,
            "shape",
            d,
        )
    });
    r.insert("_random_gamma", |a| {
        let d = dtype_1x(a, "_random_gamma")?;
        sample(
            a,
            Dist::Gamma,
            "_random_gamma",
            "_random_gamma",
            ["alpha", "beta"],
            [1.0, 1.0],
            2,
            "shape",
            d,
        )
    });
    r.insert("_random_exponential", |a| {
        let d = dtype_1x(a, "_random_exponential")?;
        // 1.x takes the rate `lam`; the sampler takes the scale 1 / lam.
        let lam = a.float("_random_exponential", "lam", 1.0)?;
        if lam <= 0.0 {
            return Err(Error::value(
                "_random_exponential",
                format!("lam={lam} must be positive"),
            ));
        }
        Ok(Arc::new(Sample {
            dist: Dist::Exponential,
            name: "_random_exponential",
            mxnet_name: "_random_exponential",
            keys: ["scale", ""],
            params: vec![Param::Value(1.0 / lam)],
            size: size_attr(a, "_random_exponential", "shape")?,
            size_key: "shape",
            dtype: d,
        }))
    });
    r.insert("_random_poisson", |a| {
        let d = dtype_1x(a, "_random_poisson")?;
        sample(
            a,
            Dist::Poisson,
            "_random_poisson",
            "_random_poisson",
            ["lam", ""],
            [1.0, 0.0],
            1,
            "shape",
            d,
        )
    });
    r.insert("_random_randint", |a| {
        Ok(Arc::new(Randint {
            name: "_random_randint",
            mxnet_name: "_random_randint",
            low: a.req_int("_random_randint", "low")?,
            high: a.req_int("_random_randint", "high")?,
            size: size_attr(a, "_random_randint", "shape")?.unwrap_or_default(),
            size_key: "shape",
            dtype: a
                .opt_dtype("_random_randint", "dtype")?
                .unwrap_or(DType::I32),
        }))
    });

    fn choice(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(Choice {
            a: a.opt_int("choice", "a")?,
            size: size_attr(a, "choice", "size")?,
            replace: a.bool("choice", "replace", true)?,
            weighted: a.bool("choice", "weighted", false)?,
        }))
    }
    r.insert("choice", choice);
    r.insert("_npi_choice", choice);
    r.insert("shuffle", |_| Ok(Arc::new(Shuffle)));
    r.insert("_shuffle", |_| Ok(Arc::new(Shuffle)));
    r.insert("_npi_shuffle", |_| Ok(Arc::new(Shuffle)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::invoke;

    fn draw(name: &str, a: &Attrs) -> Vec<f64> {
        invoke(name, &[], a).unwrap()[0].to_f64_vec().unwrap()
    }

    #[test]
    fn seeded_draws_repeat() {
        let a = Attrs::new().with("size", Attr::Ints(vec![1000]));
        seed(42);
        let x = draw("normal", &a);
        seed(42);
        let y = draw("normal", &a);
        assert_eq!(x, y);
        let z = draw("normal", &a);
        assert_ne!(x, z);
        let m: f64 = x.iter().sum::<f64>() / 1000.0;
        assert!(m.abs() < 0.15);
    }

    #[test]
    fn gamma_and_poisson_means() {
        let mut r = Stream::with_key(7).rng(0);
        let n = 20000;
        for shape in [0.5, 2.0, 9.0] {
            let m: f64 = (0..n).map(|_| r.gamma(shape)).sum::<f64>() / n as f64;
            assert!((m - shape).abs() < 0.05 * shape.max(1.0), "{shape} {m}");
        }
        for lam in [3.0, 50.0] {
            let m: f64 = (0..n).map(|_| r.poisson(lam)).sum::<f64>() / n as f64;
            assert!((m - lam).abs() < 0.05 * lam, "{lam} {m}");
        }
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-10);
    }
}
