//! The fused recurrent op: MXNet's `RNN(data, parameters, state[, state_cell][, sequence_length],
//! mode, state_size, num_layers, bidirectional, p, state_outputs, projection_size,
//! lstm_state_clip_min/max/nan, use_sequence_length)` and its gradient `_backward_RNN`.
//!
//! Modes `rnn_relu`, `rnn_tanh`, `lstm` and `gru`, any number of layers, one or two directions, the
//! LSTM projection (LSTMP: `r_t = W_hr h_t` is the recurrent state and the output) and cell-state
//! clipping, dropout between layers (training only), and per-sequence lengths. Data is TNC.
//!
//! The flat `parameters` vector is packed as MXNet packs it: first every weight, layer by layer and
//! within a layer direction by direction, each direction `W_i2h (G*H, I_l)`, `W_h2h (G*H, R)` and
//! with a projection `W_h2r (P, H)`; then every bias in the same order, `b_i2h (G*H)`, `b_h2h (G*H)`.
//! G is the number of gates (LSTM 4: i, f, g, o; GRU 3: r, z, n; 1 for the plain RNN), H the
//! state size, R the recurrent size (P with a projection, else H), I_0 the input size and
//! I_l = D*R above. States are `(L*D, N, R)` (and the LSTM cell `(L*D, N, H)`), layer-major.
//!
//! The GRU is cuDNN's: `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`, `h' = (1 - z) n + z h`.
//!
//! Each layer and direction runs as one GEMM for the input projection of all time steps, then per
//! step one GEMM against the recurrent weight and a fused elementwise loop over the gates. The
//! backward pass runs back through time the same way and ends with one GEMM each for the weight
//! gradients and the data gradient. The two directions of a bidirectional layer run in parallel.
//!
//! The forward pass, when it is recorded for autograd, keeps what the backward pass needs (the
//! activated gates, the cell states, every layer's outputs) in the op; `_backward_RNN` uses them,
//! or runs the forward again when they are not there (an op built from its attributes).
//! Gradients of `_backward_RNN` itself (higher order) are not supported.
use super::layers::{check_float, sh, with_slice, work_dtype};
use super::{apply, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::autograd;
use crate::backend::cpu::avx2::{self, PackedB};
use crate::backend::cpu::matmul::{batched_gemm, GemmElem, MatRef};
use crate::backend::cpu::num::Real;
use crate::backend::cpu::{self, num_threads};
use crate::ops::random::Stream;
use crate::storage::CpuElement;
use crate::{DType, Error, Result, Tensor};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

const OP: &str = "RNN";
const BOP: &str = "_backward_RNN";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    RnnRelu,
    RnnTanh,
    Lstm,
    Gru,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::RnnRelu => "rnn_relu",
            Mode::RnnTanh => "rnn_tanh",
            Mode::Lstm => "lstm",
            Mode::Gru => "gru",
        }
    }
    pub fn gates(self) -> usize {
        match self {
            Mode::RnnRelu | Mode::RnnTanh => 1,
            Mode::Lstm => 4,
            Mode::Gru => 3,
        }
    }
    fn parse(s: &str) -> Result<Mode> {
        Ok(match s {
            "rnn_relu" => Mode::RnnRelu,
            "rnn_tanh" => Mode::RnnTanh,
            "lstm" => Mode::Lstm,
            "gru" => Mode::Gru,
            _ => {
                return Err(Error::value(
                    OP,
                    format!("mode must be one of rnn_relu, rnn_tanh, lstm, gru, not {s:?}"),
                ))
            }
        })
    }
    /// Values kept per step and hidden unit for the backward pass: the LSTM's four activated gates,
    /// the GRU's three and `W_hn h + b_hn`; the plain RNN needs only its outputs.
    fn kept(self) -> usize {
        match self {
            Mode::Lstm | Mode::Gru => 4,
            _ => 0,
        }
    }
}

/// The attributes of an `RNN` op.
#[derive(Clone, Debug)]
pub struct RnnSpec {
    pub mode: Mode,
    pub state_size: usize,
    pub num_layers: usize,
    pub bidirectional: bool,
    pub p: f64,
    pub state_outputs: bool,
    pub projection_size: Option<usize>,
    pub clip_min: Option<f64>,
    pub clip_max: Option<f64>,
    pub clip_nan: bool,
    pub use_sequence_length: bool,
}

impl RnnSpec {
    fn from_attrs(op: &str, a: &Attrs) -> Result<RnnSpec> {
        let mode = match a.opt_str("mode") {
            Some(m) => Mode::parse(&m)?,
            None => return Err(Error::value(op, "argument mode is required")),
        };
        let pos = |key: &str| -> Result<usize> {
            let v = a.req_int(op, key)?;
            if v <= 0 {
                return Err(Error::value(op, format!("{key} must be positive, got {v}")));
            }
            Ok(v as usize)
        };
        let state_size = pos("state_size")?;
        let num_layers = pos("num_layers")?;
        let p = a.float(op, "p", 0.0)?;
        if !(0.0..1.0).contains(&p) {
            return Err(Error::value(
                op,
                format!("p (the dropout between layers) must be in [0, 1), got {p}"),
            ));
        }
        let projection_size = match a.opt_int(op, "projection_size")? {
            None | Some(0) => None,
            Some(v) if v < 0 => {
                return Err(Error::value(
                    op,
                    format!("projection_size must be positive, got {v}"),
                ))
            }
            Some(v) => Some(v as usize),
        };
        if let Some(ps) = projection_size {
            if mode != Mode::Lstm {
                return Err(Error::value(
                    op,
                    format!(
                        "projection_size is only supported for mode=lstm, not {}",
                        mode.name()
                    ),
                ));
            }
            if ps > state_size {
                return Err(Error::value(
                    op,
                    format!(
                        "projection_size ({ps}) must not be larger than state_size ({state_size})"
                    ),
                ));
            }
        }
        let clip_min = a.opt_float(op, "lstm_state_clip_min")?;
        let clip_max = a.opt_float(op, "lstm_state_clip_max")?;
        if clip_min.is_some() || clip_max.is_some() {
            if mode != Mode::Lstm {
                return Err(Error::value(
                    op,
                    format!(
                        "state clipping is only supported for mode=lstm, not {}",
                        mode.name()
                    ),
                ));
            }
            match (clip_min, clip_max) {
                (Some(lo), Some(hi)) if hi >= lo => {}
                (Some(lo), Some(hi)) => {
                    return Err(Error::value(
                        op,
                        format!(
                            "lstm_state_clip_max ({hi}) must be greater or equal to \
                             lstm_state_clip_min ({lo})"
                        ),
                    ))
                }
                _ => {
                    return Err(Error::value(
                        op,
                        "lstm_state_clip_min and lstm_state_clip_max must be given together",
                    ))
                }
            }
        }
        Ok(RnnSpec {
            mode,
            state_size,
            num_layers,
            bidirectional: a.bool(op, "bidirectional", false)?,
            p,
            state_outputs: a.bool(op, "state_outputs", false)?,
            projection_size,
            clip_min,
            clip_max,
            clip_nan: a.bool(op, "lstm_state_clip_nan", false)?,
            use_sequence_length: a.bool(op, "use_sequence_length", false)?,
        })
    }

    fn attrs(&self) -> Attrs {
        let opt_f = |v: Option<f64>| v.map_or(Attr::None, Attr::Float);
        Attrs::new()
            .with("mode", Attr::Str(self.mode.name().into()))
            .with("state_size", Attr::Int(self.state_size as i64))
            .with("num_layers", Attr::Int(self.num_layers as i64))
            .with("bidirectional", Attr::Bool(self.bidirectional))
            .with("p", Attr::Float(self.p))
            .with("state_outputs", Attr::Bool(self.state_outputs))
            .with(
                "projection_size",
                self.projection_size
                    .map_or(Attr::None, |v| Attr::Int(v as i64)),
            )
            .with("lstm_state_clip_min", opt_f(self.clip_min))
            .with("lstm_state_clip_max", opt_f(self.clip_max))
            .with("lstm_state_clip_nan", Attr::Bool(self.clip_nan))
            .with("use_sequence_length", Attr::Bool(self.use_sequence_length))
    }

    fn dirs(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
    fn lstm(&self) -> bool {
        self.mode == Mode::Lstm
    }
    /// The recurrent (and output) size of one direction.
    fn rsize(&self) -> usize {
        self.projection_size.unwrap_or(self.state_size)
    }
    fn clip(&self) -> Option<(f64, f64)> {
        self.clip_min.zip(self.clip_max)
    }
    /// Inputs of the forward op, in order.
    fn input_names(&self) -> Vec<&'static str> {
        let mut v = vec!["data", "parameters", "state"];
        if self.lstm() {
            v.push("state_cell");
        }
        if self.use_sequence_length {
            v.push("sequence_length");
        }
        v
    }

    /// The parameter slots of every (layer, direction) for input size `i`, and the total size.
    fn slots(&self, i: usize) -> (Vec<Slot>, usize) {
        let (h, r, d, gh) = (
            self.state_size,
            self.rsize(),
            self.dirs(),
            self.mode.gates() * self.state_size,
        );
        let proj = self.projection_size.is_some();
        let mut slots = Vec::new();
        let mut off = 0;
        for l in 0..self.num_layers {
            let isz = if l == 0 { i } else { d * r };
            for _ in 0..d {
                let wx = off;
                let wh = wx + gh * isz;
                off = wh + gh * r;
                let wr = proj.then_some(off);
                if proj {
                    off += r * h;
                }
                slots.push(Slot {
                    wx,
                    wh,
                    wr,
                    bx: 0,
                    bh: 0,
                    isz,
                });
            }
        }
        for s in slots.iter_mut() {
            s.bx = off;
            s.bh = off + gh;
            off += 2 * gh;
        }
        (slots, off)
    }

    /// Checks the inputs; returns the dimensions and the parameter slots.
    fn check(&self, op: &str, i: &[Meta], extra: usize) -> Result<(Dims, Vec<Slot>)> {
        let names = self.input_names();
        if i.len() != names.len() + extra {
            return Err(Error::value(
                op,
                format!(
                    "expected {} inputs ({}) for mode={}{}, got {}",
                    names.len() + extra,
                    names.join(", "),
                    self.mode.name(),
                    if extra > 0 {
                        " and the output gradients"
                    } else {
                        ""
                    },
                    i.len()
                ),
            ));
        }
        check_float(op, "data", i[0].dtype)?;
        let x = &i[0].shape;
        if x.len() != 3 {
            return Err(Error::shape(
                op,
                format!(
                    "data must have 3 dimensions (sequence length, batch, input size: TNC), got \
                     shape {}",
                    sh(x)
                ),
            ));
        }
        let (t, n, isz) = (x[0], x[1], x[2]);
        let (l, d, h, r) = (self.num_layers, self.dirs(), self.state_size, self.rsize());
        let (slots, total) = self.slots(isz);
        for (k, m) in i.iter().enumerate().skip(1) {
            let name = names.get(k).copied().unwrap_or("output gradient");
            if name != "sequence_length" && m.dtype != i[0].dtype {
                return Err(Error::dtype(
                    op,
                    format!("{name} is {} but data is {}", m.dtype, i[0].dtype),
                ));
            }
        }
        let want = |k: usize, what: &str, shape: &[usize], meaning: String| -> Result<()> {
            if i[k].shape.as_slice() != shape {
                return Err(Error::shape(
                    op,
                    format!(
                        "{what} has shape {}, expected {meaning} = {} for data of shape {}",
                        sh(&i[k].shape),
                        sh(shape),
                        sh(x)
                    ),
                ));
            }
            Ok(())
        };
        want(
            1,
            "parameters",
            &[total],
            format!(
                "the packed size for mode={}, state_size={h}, num_layers={l}, {}{}",
                self.mode.name(),
                if d == 2 {
                    "bidirectional"
                } else {
                    "unidirectional"
                },
                self.projection_size
                    .map_or(String::new(), |p| format!(", projection_size={p}"))
            ),
        )?;
        let rname = if self.projection_size.is_some() {
            "projection_size"
        } else {
            "state_size"
        };
        want(
            2,
            "state",
            &[l * d, n, r],
            format!("(num_layers*directions, batch, {rname})"),
        )?;
        let mut k = 3;
        if self.lstm() {
            want(
                3,
                "state_cell",
                &[l * d, n, h],
                "(num_layers*directions, batch, state_size)".into(),
            )?;
            k += 1;
        }
        if self.use_sequence_length {
            want(k, "sequence_length", &[n], "(batch,)".into())?;
            k += 1;
        }
        if extra > 0 {
            want(
                k,
                "output gradient",
                &[t, n, d * r],
                "the output shape".into(),
            )?;
            want(
                k + 1,
                "state gradient",
                &[l * d, n, r],
                "the state shape".into(),
            )?;
            if self.lstm() {
                want(
                    k + 2,
                    "state_cell gradient",
                    &[l * d, n, h],
                    "the state_cell shape".into(),
                )?;
            }
        }
        Ok((
            Dims {
                t,
                n,
                i: isz,
                h,
                r,
                d,
                l,
            },
            slots,
        ))
    }

    fn out_metas(&self, dm: &Dims, dtype: DType) -> Vec<Meta> {
        let mut v = vec![Meta::new(vec![dm.t, dm.n, dm.d * dm.r].into(), dtype)];
        if self.state_outputs {
            v.push(Meta::new(vec![dm.l * dm.d, dm.n, dm.r].into(), dtype));
            if self.lstm() {
                v.push(Meta::new(vec![dm.l * dm.d, dm.n, dm.h].into(), dtype));
            }
        }
        v
    }
}

/// Where one (layer, direction)'s weights and biases sit in the parameter vector.
#[derive(Clone, Copy, Debug)]
struct Slot {
    wx: usize,
    wh: usize,
    wr: Option<usize>,
    bx: usize,
    bh: usize,
    /// The input size of this layer.
    isz: usize,
}

#[derive(Clone, Copy, Debug)]
struct Dims {
    t: usize,
    n: usize,
    i: usize,
    h: usize,
    r: usize,
    d: usize,
    l: usize,
}

// ---------------------------------------------------------------------------------------------
// Kernels

/// The float types the kernels run in, and their kept forward state.
pub trait Elem: GemmElem + Real + CpuElement + Send + Sync {
    fn reserve(r: &AnyReserve) -> Option<&Reserve<Self>>;
    fn wrap_reserve(r: Reserve<Self>) -> AnyReserve;
    /// `b (k x n)` packed once for the step kernel where it runs (float32 with AVX2 and FMA):
    /// the product `c (m x n) = a (m x k) . b` as `f(m, a, c)`.
    fn pack_step(_k: usize, _n: usize, _b: Operand<'_, Self>) -> Option<StepProduct<Self>> {
        None
    }
}

/// A matrix operand: (data, offset, row stride, column stride).
type Operand<'a, T> = (&'a [T], usize, usize, usize);

/// A product by a packed operand: `f(m, a, c)`.
type StepProduct<T> = Box<dyn Fn(usize, &[T], &mut [T], usize) + Send + Sync>;

/// The right operand of a product taken at every time step (a recurrent weight): packed once
/// for the step kernel where it runs, else read in place.
enum StepMat<'a, T> {
    Packed(StepProduct<T>),
    Plain(usize, usize, Operand<'a, T>),
}

impl<'a, T: Elem> StepMat<'a, T> {
    fn new(k: usize, n: usize, b: Operand<'a, T>) -> Self {
        T::pack_step(k, n, b).map_or(StepMat::Plain(k, n, b), StepMat::Packed)
    }
    /// `c = a (m x k, contiguous) . b`, the packed product split among `threads`.
    fn mul(&self, m: usize, a: &[T], c: &mut [T], threads: usize) -> Result<()> {
        match self {
            StepMat::Packed(f) => {
                f(m, a, c, threads);
                Ok(())
            }
            &StepMat::Plain(k, n, b) => mm(m, n, k, (a, 0, k, 1), b, c),
        }
    }
}

impl Elem for f32 {
    fn pack_step(k: usize, n: usize, b: Operand<'_, f32>) -> Option<StepProduct<f32>> {
        let (d, o, rs, cs) = b;
        if !avx2::available() {
            return None;
        }
        let p = PackedB::new(k, n, cpu::kernel_threads(), |q, j| d[o + q * rs + j * cs]);
        Some(Box::new(move |m, a, c, threads| {
            p.left_mul(m, a, c, threads)
        }))
    }
    fn reserve(r: &AnyReserve) -> Option<&Reserve<f32>> {
        match r {
            AnyReserve::F32(r) => Some(r),
            _ => None,
        }
    }
    fn wrap_reserve(r: Reserve<f32>) -> AnyReserve {
        AnyReserve::F32(r)
    }
}

impl Elem for f64 {
    fn reserve(r: &AnyReserve) -> Option<&Reserve<f64>> {
        match r {
            AnyReserve::F64(r) => Some(r),
            _ => None,
        }
    }
    fn wrap_reserve(r: Reserve<f64>) -> AnyReserve {
        AnyReserve::F64(r)
    }
}

/// What the forward pass keeps for the backward pass.
pub struct Reserve<T> {
    /// Per (layer, direction).
    dirs: Vec<DirOut<T>>,
    /// The inputs of layers 1.. (the outputs below, after dropout).
    xs: Vec<Vec<T>>,
}

pub enum AnyReserve {
    F32(Reserve<f32>),
    F64(Reserve<f64>),
}

/// One direction's forward results: outputs (T, N, R), final states, and (kept for the backward
/// pass) the gates (T, N, kept*H) and LSTM cell states (T, N, H).
struct DirOut<T> {
    y: Vec<T>,
    hy: Vec<T>,
    cy: Vec<T>,
    gates: Vec<T>,
    cells: Vec<T>,
}

/// `c (m x n) = a (m x k) . b (k x n)`, each operand read at an offset with (row, col) strides.
#[allow(clippy::too_many_arguments)]
fn mm<T: GemmElem>(
    m: usize,
    n: usize,
    k: usize,
    a: (&[T], usize, usize, usize),
    b: (&[T], usize, usize, usize),
    c: &mut [T],
) -> Result<()> {
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        c.fill(T::zero());
        return Ok(());
    }
    let ma = MatRef {
        data: a.0,
        offsets: vec![a.1],
        rs: a.2 as isize,
        cs: a.3 as isize,
    };
    let mb = MatRef {
        data: b.0,
        offsets: vec![b.1],
        rs: b.2 as isize,
        cs: b.3 as isize,
    };
    batched_gemm(m, n, k, &ma, &mb, c)
}

#[inline]
fn clip<T: Real>(c: T, lo: f64, hi: f64, nan_to_min: bool) -> T {
    if c.is_nan() {
        return if nan_to_min { T::from_f(lo) } else { c };
    }
    let (l, h) = (T::from_f(lo), T::from_f(hi));
    if c < l {
        l
    } else if c > h {
        h
    } else {
        c
    }
}

/// `run_widest(self)` for a type whose `run(self)` is `#[inline(always)]`: `run` compiled for
/// the widest vectors this CPU has (AVX-512, else AVX2 and FMA, else the baseline), so that its
/// loops vectorize to that width.
macro_rules! widest_run {
    ($ty:ident) => {
        impl<T: Real> $ty<'_, T> {
            fn run_widest(self) {
                #[cfg(target_arch = "x86_64")]
                {
                    #[target_feature(enable = "avx512f,avx2,fma")]
                    unsafe fn zmm<T: Real>(c: $ty<'_, T>) {
                        c.run()
                    }
                    #[target_feature(enable = "avx2,fma")]
                    unsafe fn ymm<T: Real>(c: $ty<'_, T>) {
                        c.run()
                    }
                    if avx2::max_lanes() == 16 {
                        // SAFETY: the CPU has AVX-512 (and so AVX2 and FMA).
                        return unsafe { zmm(self) };
                    }
                    if avx2::available() {
                        // SAFETY: the CPU has AVX2 and FMA.
                        return unsafe { ymm(self) };
                    }
                }
                self.run()
            }
        }
    };
}
widest_run!(LstmCell);
widest_run!(LstmCellGrad);

/// One batch row of an LSTM step: gates from the input projection `xr`, the biases `b` and the
/// recurrent projection `hr` (i, f, g, o blocks of h), kept in `g`; the cell `c` and output `ho`
/// updated.
struct LstmCell<'a, T> {
    xr: &'a [T],
    b: &'a [T],
    hr: &'a [T],
    g: &'a mut [T],
    c: &'a mut [T],
    ho: &'a mut [T],
    /// (lo, hi, nan_to_min)
    clip: Option<(f64, f64, bool)>,
}

impl<T: Real> LstmCell<'_, T> {
    #[inline(always)]
    fn run(self) {
        let h = self.c.len();
        let [ai, af, ag, ao] = blocks(self.xr, h);
        let [ci, cf, cg, co] = blocks(self.b, h);
        let [bi, bf, bg, bo] = blocks(self.hr, h);
        let [gi, gf, gg, go] = blocks_mut(self.g, h);
        let (c, ho) = (self.c, &mut self.ho[..h]);
        // Separate loops for the gates and the state, so that each vectorizes.
        for j in 0..h {
            gi[j] = (ai[j] + ci[j] + bi[j]).sigmoid();
            gf[j] = (af[j] + cf[j] + bf[j]).sigmoid();
            gg[j] = (ag[j] + cg[j] + bg[j]).tanh_act();
            go[j] = (ao[j] + co[j] + bo[j]).sigmoid();
        }
        for j in 0..h {
            c[j] = gf[j] * c[j] + gi[j] * gg[j];
        }
        if let Some((lo, hi, nan)) = self.clip {
            c.iter_mut().for_each(|v| *v = clip(*v, lo, hi, nan));
        }
        for j in 0..h {
            ho[j] = go[j] * c[j].tanh_act();
        }
    }
}

/// The backward of one batch row of an LSTM step: from the kept gates `g`, the cell `c` and the
/// previous cell `cp`, the gradient `dh` of the (pre-projection) output and `dc` of the cell,
/// the gates' pre-activation gradients `da` (i, f, g, o blocks) and `dc` for the step before.
struct LstmCellGrad<'a, T> {
    g: &'a [T],
    c: &'a [T],
    cp: &'a [T],
    dh: &'a [T],
    da: &'a mut [T],
    dc: &'a mut [T],
    clip: Option<(f64, f64)>,
}

impl<T: Real> LstmCellGrad<'_, T> {
    /// The output before projection, o * tanh(c), which the projection's gradient needs.
    fn hidden(&self, ho: &mut [T]) {
        let h = self.c.len();
        for j in 0..h {
            ho[j] = self.g[3 * h + j] * self.c[j].tanh_act();
        }
    }

    #[inline(always)]
    fn run(self) {
        match self.clip {
            Some((lo, hi)) => self.body::<true>(T::from_f(lo), T::from_f(hi)),
            None => self.body::<false>(T::zero(), T::zero()),
        }
    }

    /// One loop without branches, so that it vectorizes; with CLIP the cell's gradient is cut
    /// where the forward clipped the cell.
    #[inline(always)]
    fn body<const CLIP: bool>(self, lo: T, hi: T) {
        let h = self.c.len();
        let [gi, gf, gg, go] = blocks(self.g, h);
        let [ai, af, ag, ao] = blocks_mut(self.da, h);
        let (c, cp, dh, dc) = (self.c, &self.cp[..h], &self.dh[..h], &mut self.dc[..h]);
        let one = T::one();
        for j in 0..h {
            let (ig, fg, g, og) = (gi[j], gf[j], gg[j], go[j]);
            let tc = c[j].tanh_act();
            let mut dct = dc[j] + dh[j] * og * (one - tc * tc);
            if CLIP && !(c[j] > lo && c[j] < hi) {
                dct = T::zero();
            }
            ai[j] = dct * g * ig * (one - ig);
            af[j] = dct * cp[j] * fg * (one - fg);
            ag[j] = dct * ig * (one - g * g);
            ao[j] = dh[j] * tc * og * (one - og);
            dc[j] = dct * fg;
        }
    }
}

/// Per-sequence lengths: whether step `t` of sequence `n` is inside it.
#[inline]
fn valid(lens: Option<&[usize]>, t: usize, n: usize) -> bool {
    lens.is_none_or(|l| t < l[n])
}

/// The step processed before `t` (forward in time for direction 0, backward for direction 1).
#[inline]
fn prev_step(t: usize, nt: usize, rev: bool) -> Option<usize> {
    if rev {
        (t + 1 < nt).then_some(t + 1)
    } else {
        t.checked_sub(1)
    }
}

/// Whether step `t` of sequence `n` starts from the initial state.
#[inline]
fn starts(lens: Option<&[usize]>, t: usize, n: usize, nt: usize, rev: bool) -> Option<usize> {
    match prev_step(t, nt, rev) {
        Some(tp) if valid(lens, tp, n) => Some(tp),
        _ => None,
    }
}

struct Ctxt<'a, T> {
    s: &'a RnnSpec,
    dm: Dims,
    w: &'a [T],
    lens: Option<&'a [usize]>,
}

impl<T: Elem> Ctxt<'_, T> {
    /// One direction of one layer over the whole sequence.
    fn dir_forward(
        &self,
        x: &[T],
        slot: &Slot,
        h0: &[T],
        c0: &[T],
        rev: bool,
        keep: bool,
    ) -> Result<DirOut<T>> {
        let (s, w, lens) = (self.s, self.w, self.lens);
        let Dims {
            t: nt, n: nb, h, r, ..
        } = self.dm;
        let (isz, gh, tn) = (slot.isz, s.mode.gates() * h, nt * nb);
        let kept = s.mode.kept() * h;
        // Input projection of every step; the biases (all but the GRU's b_hn) are added in the
        // per-step cell loops, which run in parallel.
        let mut xw = vec![T::zero(); tn * gh];
        mm(tn, gh, isz, (x, 0, isz, 1), (w, slot.wx, 1, isz), &mut xw)?;
        let bias: Vec<T> = (0..gh)
            .map(|j| {
                if s.mode == Mode::Gru && j >= 2 * h {
                    w[slot.bx + j]
                } else {
                    w[slot.bx + j] + w[slot.bh + j]
                }
            })
            .collect();
        let bhn = if s.mode == Mode::Gru {
            &w[slot.bh + 2 * h..slot.bh + gh]
        } else {
            &[][..]
        };
        let mut hcur = h0.to_vec();
        let mut ccur = c0.to_vec();
        let mut y = vec![T::zero(); tn * r];
        let mut gates = vec![T::zero(); if keep { tn * kept } else { nb * kept }];
        let mut cells = vec![T::zero(); if keep && s.lstm() { tn * h } else { 0 }];
        let mut tmp = vec![T::zero(); nb * gh];
        let proj = slot.wr;
        let mut hpre = vec![T::zero(); if proj.is_some() { nb * h } else { 0 }];
        let mut rtmp = vec![T::zero(); if proj.is_some() { nb * r } else { 0 }];
        let clip = s.clip();
        let relu = s.mode == Mode::RnnRelu;
        // The batch rows in one chunk per thread (when the rows are worth splitting), each
        // chunk its rows' recurrent product on its thread and then their cells: one parallel
        // region a step, and each thread reads the gates it computed. With the product split
        // by columns and a second region for the cells, 2 threads ran the inference of
        // `benches/lstm.py` 1.70x as fast as one; this way 1.77x (same-process A/B 0.86-0.95).
        let (per, threads) = row_chunks(nb, h);
        let wh = StepMat::new(r, gh, (w, slot.wh, 1, r));
        for step in 0..nt {
            let t = if rev { nt - 1 - step } else { step };
            let xwt = &xw[t * nb * gh..(t + 1) * nb * gh];
            let gt = if keep {
                &mut gates[t * nb * kept..(t + 1) * nb * kept]
            } else {
                &mut gates[..]
            };
            let row = |n: usize, hr: &[T], (ho, g, c): (&mut [T], &mut [T], &mut [T])| {
                if !valid(lens, t, n) {
                    return;
                }
                let xr = &xwt[n * gh..(n + 1) * gh];
                let b = &bias[..gh];
                match s.mode {
                    // Per-gate blocks of length h, so the loops run without bounds checks and
                    // vectorize.
                    Mode::Lstm => {
                        let cell = LstmCell {
                            xr,
                            b,
                            hr,
                            g,
                            c: &mut c[..h],
                            ho: &mut ho[..h],
                            clip: clip.map(|(lo, hi)| (lo, hi, s.clip_nan)),
                        };
                        cell.run_widest()
                    }
                    Mode::Gru => {
                        let [ar, az, an] = blocks(xr, h);
                        let [cr, cz, cn] = blocks(b, h);
                        let [br, bz, bn] = blocks(hr, h);
                        let [gr, gz, gn, ghn] = blocks_mut(g, h);
                        let (ho, bhn) = (&mut ho[..h], &bhn[..h]);
                        for j in 0..h {
                            let rg = (ar[j] + cr[j] + br[j]).sigmoid();
                            let zg = (az[j] + cz[j] + bz[j]).sigmoid();
                            let hn = bn[j] + bhn[j];
                            let ng = (an[j] + cn[j] + rg * hn).tanh_act();
                            ho[j] = (T::one() - zg) * ng + zg * ho[j];
                            (gr[j], gz[j], gn[j], ghn[j]) = (rg, zg, ng, hn);
                        }
                    }
                    _ => {
                        for j in 0..h {
                            let a = xr[j] + b[j] + hr[j];
                            ho[j] = if relu {
                                if a > T::zero() {
                                    a
                                } else {
                                    T::zero()
                                }
                            } else {
                                a.tanh_act()
                            };
                        }
                    }
                }
            };
            // Each chunk's new state (hidden (pre-projection), gates, cell) from its product
            // rows; the product reads the state before (hcur, or with a projection its output).
            let (hout, hin): (&mut [T], Option<&[T]>) = if proj.is_some() {
                (&mut hpre, Some(&hcur))
            } else {
                (&mut hcur, None)
            };
            let parts = row_parts(
                nb.div_ceil(per),
                [
                    (hout, per * h),
                    (gt, per * kept),
                    (&mut ccur, per * h),
                    (&mut tmp, per * gh),
                ],
            );
            let chunk = |i: usize, [ho, g, c, hr]: [&mut [T]; 4]| -> Result<()> {
                let (n0, m) = (i * per, hr.len() / gh);
                let a = hin.map_or(&*ho, |x| &x[n0 * r..(n0 + m) * r]);
                wh.mul(m, a, hr, threads)?;
                let rows = row_parts(m, [(ho, h), (g, kept), (c, h)]);
                for (k, [ho, g, c]) in rows.into_iter().enumerate() {
                    row(n0 + k, &hr[k * gh..(k + 1) * gh], (ho, g, c));
                }
                Ok(())
            };
            each_chunk(parts, chunk)?;
            if let Some(wr) = proj {
                mm(nb, r, h, (&hpre, 0, h, 1), (w, wr, 1, h), &mut rtmp)?;
                for n in (0..nb).filter(|&n| valid(lens, t, n)) {
                    hcur[n * r..(n + 1) * r].copy_from_slice(&rtmp[n * r..(n + 1) * r]);
                }
            }
            let yt = &mut y[t * nb * r..(t + 1) * nb * r];
            for n in (0..nb).filter(|&n| valid(lens, t, n)) {
                yt[n * r..(n + 1) * r].copy_from_slice(&hcur[n * r..(n + 1) * r]);
            }
            if keep && s.lstm() {
                cells[t * nb * h..(t + 1) * nb * h].copy_from_slice(&ccur);
            }
        }
        if !keep {
            gates = Vec::new();
        }
        Ok(DirOut {
            y,
            hy: hcur,
            cy: ccur,
            gates,
            cells,
        })
    }

    /// The backward pass of one direction of one layer: given the gradient of its outputs `dy`
    /// (T, N, R) and final states, the gradients of its weights, biases, initial states and input.
    #[allow(clippy::too_many_arguments)]
    fn dir_backward(
        &self,
        x: &[T],
        slot: &Slot,
        h0: &[T],
        c0: &[T],
        fw: &DirOut<T>,
        dy: &[T],
        dhy: &[T],
        dcy: &[T],
        rev: bool,
        want_dx: bool,
    ) -> Result<DirGrad<T>> {
        let (s, w, lens) = (self.s, self.w, self.lens);
        let Dims {
            t: nt, n: nb, h, r, ..
        } = self.dm;
        let (isz, gh, tn) = (slot.isz, s.mode.gates() * h, nt * nb);
        let kept = s.mode.kept() * h;
        let gru = s.mode == Mode::Gru;
        let proj = slot.wr;
        let clip = s.clip();
        let mut da = vec![T::zero(); tn * gh];
        let mut dah = vec![T::zero(); if gru { tn * gh } else { 0 }];
        let mut dh = dhy.to_vec();
        let mut dc = dcy.to_vec();
        let mut direct = vec![T::zero(); if gru { nb * r } else { 0 }];
        let mut tmp = vec![T::zero(); nb * r];
        let mut dr_all = vec![T::zero(); if proj.is_some() { tn * r } else { 0 }];
        let mut hpre_all = vec![T::zero(); if proj.is_some() { tn * h } else { 0 }];
        let mut dhpre = vec![T::zero(); if proj.is_some() { nb * h } else { 0 }];
        let par = par_rows(nb, h);
        // One chunk of batch rows per thread, as in `dir_steps`: each its rows' cells, then
        // their product back to the state before.
        let (per, threads) = row_chunks(nb, h);
        let wh = StepMat::new(gh, r, (w, slot.wh, r, 1));
        for step in (0..nt).rev() {
            let t = if rev { nt - 1 - step } else { step };
            for n in (0..nb).filter(|&n| valid(lens, t, n)) {
                let (d, g) = (&mut dh[n * r..(n + 1) * r], &dy[(t * nb + n) * r..]);
                d.iter_mut().zip(g).for_each(|(a, &b)| *a = *a + b);
            }
            if let Some(wr) = proj {
                for n in (0..nb).filter(|&n| valid(lens, t, n)) {
                    dr_all[(t * nb + n) * r..(t * nb + n + 1) * r]
                        .copy_from_slice(&dh[n * r..(n + 1) * r]);
                }
                mm(
                    nb,
                    h,
                    r,
                    (&dr_all, t * nb * r, r, 1),
                    (w, wr, h, 1),
                    &mut dhpre,
                )?;
            }
            let dhpre_r = &dhpre;
            let row = |n: usize, dh: &[T], [a, dcn, hpo, ah, dir]: [&mut [T]; 5]| {
                if !valid(lens, t, n) {
                    return;
                }
                let row = t * nb + n;
                let g = &fw.gates[row * kept..(row + 1) * kept];
                let tp = starts(lens, t, n, nt, rev);
                match s.mode {
                    Mode::Lstm => {
                        let cp = match tp {
                            Some(tp) => &fw.cells[(tp * nb + n) * h..(tp * nb + n + 1) * h],
                            None => &c0[n * h..(n + 1) * h],
                        };
                        let cell = LstmCellGrad {
                            g,
                            c: &fw.cells[row * h..(row + 1) * h],
                            cp,
                            dh: if proj.is_some() {
                                &dhpre_r[n * h..(n + 1) * h]
                            } else {
                                &dh[..h]
                            },
                            da: a,
                            dc: &mut dcn[..h],
                            clip,
                        };
                        if proj.is_some() {
                            cell.hidden(&mut hpo[..h]);
                        }
                        cell.run_widest()
                    }
                    Mode::Gru => {
                        let hp = match tp {
                            Some(tp) => &fw.y[(tp * nb + n) * r..(tp * nb + n + 1) * r],
                            None => &h0[n * r..(n + 1) * r],
                        };
                        for j in 0..h {
                            let (rg, zg, ng, hn) = (g[j], g[h + j], g[2 * h + j], g[3 * h + j]);
                            let dv = dh[j];
                            let dan = dv * (T::one() - zg) * (T::one() - ng * ng);
                            let dar = dan * hn * rg * (T::one() - rg);
                            let daz = dv * (hp[j] - ng) * zg * (T::one() - zg);
                            a[j] = dar;
                            a[h + j] = daz;
                            a[2 * h + j] = dan;
                            ah[j] = dar;
                            ah[h + j] = daz;
                            ah[2 * h + j] = dan * rg;
                            dir[j] = dv * zg;
                        }
                    }
                    _ => {
                        let yv = &fw.y[row * r..(row + 1) * r];
                        let relu = s.mode == Mode::RnnRelu;
                        for j in 0..h {
                            let d = if relu {
                                if yv[j] > T::zero() {
                                    T::one()
                                } else {
                                    T::zero()
                                }
                            } else {
                                T::one() - yv[j] * yv[j]
                            };
                            a[j] = dh[j] * d;
                        }
                    }
                }
            };
            let dat = &mut da[t * nb * gh..(t + 1) * nb * gh];
            let hpt: &mut [T] = if proj.is_some() {
                &mut hpre_all[t * nb * h..(t + 1) * nb * h]
            } else {
                &mut []
            };
            let daht: &mut [T] = if gru {
                &mut dah[t * nb * gh..(t + 1) * nb * gh]
            } else {
                &mut []
            };
            let parts = row_parts(
                nb.div_ceil(per),
                [
                    (dat, per * gh),
                    (&mut dc, per * h),
                    (hpt, per * h),
                    (daht, per * gh),
                    (&mut direct, per * r),
                    (&mut dh, per * r),
                    (&mut tmp, per * r),
                ],
            );
            let chunk = |i: usize, [a, dcn, hpo, ah, dir, dhc, tm]: [&mut [T]; 7]| -> Result<()> {
                let (n0, m) = (i * per, dhc.len() / r);
                let rows = row_parts(
                    m,
                    [
                        (&mut *a, gh),
                        (&mut *dcn, h),
                        (hpo, h),
                        (&mut *ah, gh),
                        (&mut *dir, r),
                    ],
                );
                for (k, p) in rows.into_iter().enumerate() {
                    row(n0 + k, &dhc[k * r..(k + 1) * r], p);
                }
                wh.mul(m, if gru { ah } else { a }, tm, threads)?;
                for k in (0..m).filter(|&k| valid(lens, t, n0 + k)) {
                    for j in 0..r {
                        let dd = if gru { dir[k * r + j] } else { T::zero() };
                        dhc[k * r + j] = tm[k * r + j] + dd;
                    }
                }
                Ok(())
            };
            each_chunk(parts, chunk)?;
        }
        // The states each step started from, for the recurrent weight's gradient.
        let mut hprev = vec![T::zero(); tn * r];
        for t in 0..nt {
            for n in 0..nb {
                let src = match starts(lens, t, n, nt, rev) {
                    Some(tp) => &fw.y[(tp * nb + n) * r..(tp * nb + n + 1) * r],
                    None => &h0[n * r..(n + 1) * r],
                };
                hprev[(t * nb + n) * r..(t * nb + n + 1) * r].copy_from_slice(src);
            }
        }
        let ah = if gru { &dah } else { &da };
        let mut dwh = vec![T::zero(); gh * r];
        mm(gh, r, tn, (ah, 0, 1, gh), (&hprev, 0, r, 1), &mut dwh)?;
        let mut dwx = vec![T::zero(); gh * isz];
        mm(gh, isz, tn, (&da, 0, 1, gh), (x, 0, isz, 1), &mut dwx)?;
        let mut dwr = vec![T::zero(); if proj.is_some() { r * h } else { 0 }];
        if proj.is_some() {
            mm(r, h, tn, (&dr_all, 0, 1, r), (&hpre_all, 0, h, 1), &mut dwr)?;
        }
        // Bias gradients: sums over the steps, in blocks of columns that run in parallel (the
        // same order of additions per column either way).
        let colsum = |m: &[T]| {
            const W: usize = 128;
            let mut s = vec![T::zero(); gh];
            let block = |(b, s): (usize, &mut [T])| {
                for row in m.chunks(gh) {
                    s.iter_mut()
                        .zip(&row[b * W..])
                        .for_each(|(a, &v)| *a = *a + v);
                }
            };
            if par {
                s.par_chunks_mut(W).enumerate().for_each(block);
            } else {
                s.chunks_mut(W).enumerate().for_each(block);
            }
            s
        };
        let dbx = colsum(&da);
        let dbh = if gru { colsum(&dah) } else { dbx.clone() };
        let mut dx = vec![T::zero(); if want_dx { tn * isz } else { 0 }];
        if want_dx {
            mm(tn, isz, gh, (&da, 0, gh, 1), (w, slot.wx, isz, 1), &mut dx)?;
        }
        Ok(DirGrad {
            dwx,
            dwh,
            dwr,
            dbx,
            dbh,
            dh0: dh,
            dc0: dc,
            dx,
        })
    }
}

struct DirGrad<T> {
    dwx: Vec<T>,
    dwh: Vec<T>,
    dwr: Vec<T>,
    dbx: Vec<T>,
    dbh: Vec<T>,
    dh0: Vec<T>,
    dc0: Vec<T>,
    dx: Vec<T>,
}

/// Whether the per-step loops over `nb` batch rows of `h` units are worth splitting across threads.
fn par_rows(nb: usize, h: usize) -> bool {
    nb > 1 && nb * h >= 2048 && num_threads() > 1
}

/// The first `K` blocks of `h` elements of a row (one per gate).
fn blocks<T, const K: usize>(row: &[T], h: usize) -> [&[T]; K] {
    std::array::from_fn(|k| &row[k * h..(k + 1) * h])
}

/// The first `K` blocks of `h` elements of a row, mutable. Split off one by one, so that the
/// compiler sees each is `h` long: the loops over them then vectorize to the end (with blocks
/// of unknown length, the last vector's worth of an LSTM cell ran scalar: 1.3x slower).
fn blocks_mut<T, const K: usize>(row: &mut [T], h: usize) -> [&mut [T]; K] {
    let mut rest = &mut row[..K * h];
    std::array::from_fn(|_| {
        let (block, tail) = std::mem::take(&mut rest).split_at_mut(h);
        rest = tail;
        block
    })
}

/// How a step loop splits the batch of `nb` rows of `h` units: (rows per chunk, threads for each
/// chunk's product). One chunk per thread when the rows are worth splitting (`par_rows`), each
/// chunk's product then on its own thread; else one chunk, its product split across the pool.
fn row_chunks(nb: usize, h: usize) -> (usize, usize) {
    if par_rows(nb, h) {
        (nb.div_ceil(num_threads().min(nb)), 1)
    } else {
        (nb, cpu::kernel_threads())
    }
}

/// Runs `f(i, part)` on each chunk of `row_chunks`, in parallel when there are several.
fn each_chunk<P: Send>(parts: Vec<P>, f: impl Fn(usize, P) -> Result<()> + Sync) -> Result<()> {
    if parts.len() > 1 {
        parts
            .into_par_iter()
            .enumerate()
            .try_for_each(|(i, p)| f(i, p))
    } else {
        parts.into_iter().enumerate().try_for_each(|(i, p)| f(i, p))
    }
}

/// Splits `K` buffers into the rows of `nb` batch items, row `n` of buffer `k` being
/// `buf[n*width..(n+1)*width]` (an empty slice for an empty buffer).
fn row_parts<'a, T, const K: usize>(
    nb: usize,
    bufs: [(&'a mut [T], usize); K],
) -> Vec<[&'a mut [T]; K]> {
    let mut iters: Vec<std::vec::IntoIter<&'a mut [T]>> = bufs
        .into_iter()
        .map(|(b, w)| {
            let v: Vec<&'a mut [T]> = if b.is_empty() || w == 0 {
                (0..nb).map(|_| -> &'a mut [T] { &mut [] }).collect()
            } else {
                b.chunks_mut(w).take(nb).collect()
            };
            v.into_iter()
        })
        .collect();
    (0..nb)
        .map(|_| std::array::from_fn(|k| iters[k].next().expect("one row per batch item")))
        .collect()
}

/// Runs `f(0)` and `f(1)` (the two directions), in parallel when there are threads for it.
fn both<R: Send>(d: usize, f: impl Fn(usize) -> Result<R> + Sync) -> Result<Vec<R>> {
    if d == 2 && num_threads() > 1 {
        let (a, b) = rayon::join(|| f(0), || f(1));
        Ok(vec![a?, b?])
    } else {
        (0..d).map(f).collect()
    }
}

/// The dropout mask (0 or 1/(1-p)) applied to the input of layer `layer` (1..).
fn mask<T: Real>(key: u64, layer: usize, len: usize, p: f64) -> Vec<T> {
    let stream = Stream::with_key(key);
    let scale = T::from_f(1.0 / (1.0 - p));
    let base = (layer * len) as u64;
    (0..len)
        .map(|i| {
            if stream.uniform(base + i as u64) < p {
                T::zero()
            } else {
                scale
            }
        })
        .collect()
}

/// Rows (T*N) of `D` directions' outputs (each R wide) side by side.
fn interleave<T: Copy + Default>(parts: &[&[T]], rows: usize, r: usize) -> Vec<T> {
    let d = parts.len();
    let mut out = vec![T::default(); rows * d * r];
    for (k, row) in out.chunks_mut(d * r).enumerate() {
        for (di, p) in parts.iter().enumerate() {
            row[di * r..(di + 1) * r].copy_from_slice(&p[k * r..(k + 1) * r]);
        }
    }
    out
}

struct Forward<T> {
    out: Vec<T>,
    hy: Vec<T>,
    cy: Vec<T>,
    reserve: Option<Reserve<T>>,
}

fn forward_all<T: Elem + Default>(
    c: &Ctxt<T>,
    slots: &[Slot],
    x: &[T],
    hx: &[T],
    cx: &[T],
    key: Option<u64>,
    keep: bool,
) -> Result<Forward<T>> {
    let Dims {
        t, n, h, r, d, l, ..
    } = c.dm;
    let (nr, nh) = (n * r, n * h);
    let mut input: Vec<T> = x.to_vec();
    let mut hy = vec![T::zero(); l * d * nr];
    let mut cy = vec![T::zero(); if c.s.lstm() { l * d * nh } else { 0 }];
    let mut dirs = Vec::new();
    let mut xs = Vec::new();
    for li in 0..l {
        let outs = both(d, |di| {
            let k = li * d + di;
            let c0 = if c.s.lstm() {
                &cx[k * nh..(k + 1) * nh]
            } else {
                &[][..]
            };
            c.dir_forward(
                &input,
                &slots[k],
                &hx[k * nr..(k + 1) * nr],
                c0,
                di == 1,
                keep,
            )
        })?;
        for (di, o) in outs.iter().enumerate() {
            let k = li * d + di;
            hy[k * nr..(k + 1) * nr].copy_from_slice(&o.hy);
            if c.s.lstm() {
                cy[k * nh..(k + 1) * nh].copy_from_slice(&o.cy);
            }
        }
        let parts: Vec<&[T]> = outs.iter().map(|o| &o.y[..]).collect();
        let mut y = interleave(&parts, t * n, r);
        if li + 1 < l {
            if let Some(key) = key {
                let m = mask::<T>(key, li + 1, y.len(), c.s.p);
                y.iter_mut().zip(&m).for_each(|(v, &k)| *v = *v * k);
            }
            if keep {
                xs.push(y.clone());
            }
        }
        input = y;
        if keep {
            dirs.extend(outs);
        }
    }
    Ok(Forward {
        out: input,
        hy,
        cy,
        reserve: keep.then_some(Reserve { dirs, xs }),
    })
}

struct Grads<T> {
    dx: Vec<T>,
    dw: Vec<T>,
    dhx: Vec<T>,
    dcx: Vec<T>,
}

#[allow(clippy::too_many_arguments)]
fn backward_all<T: Elem + Default>(
    c: &Ctxt<T>,
    slots: &[Slot],
    total: usize,
    x: &[T],
    hx: &[T],
    cx: &[T],
    res: &Reserve<T>,
    key: Option<u64>,
    dy: &[T],
    dhy: &[T],
    dcy: &[T],
    want_data: bool,
) -> Result<Grads<T>> {
    let Dims {
        t, n, h, r, d, l, ..
    } = c.dm;
    let (nr, nh, tn) = (n * r, n * h, t * n);
    let mut dw = vec![T::zero(); total];
    let mut dhx = vec![T::zero(); l * d * nr];
    let mut dcx = vec![T::zero(); if c.s.lstm() { l * d * nh } else { 0 }];
    let mut dout: Vec<T> = dy.to_vec();
    for li in (0..l).rev() {
        let input: &[T] = if li == 0 { x } else { &res.xs[li - 1] };
        let grads = both(d, |di| {
            let k = li * d + di;
            let dyd: Vec<T> = if d == 1 {
                dout.clone()
            } else {
                dout.chunks(d * r)
                    .flat_map(|row| row[di * r..(di + 1) * r].iter().copied())
                    .collect()
            };
            let (c0, dc) = if c.s.lstm() {
                (&cx[k * nh..(k + 1) * nh], &dcy[k * nh..(k + 1) * nh])
            } else {
                (&[][..], &[][..])
            };
            c.dir_backward(
                input,
                &slots[k],
                &hx[k * nr..(k + 1) * nr],
                c0,
                &res.dirs[k],
                &dyd,
                &dhy[k * nr..(k + 1) * nr],
                dc,
                di == 1,
                li > 0 || want_data,
            )
        })?;
        let isz = slots[li * d].isz;
        let mut dinput = vec![T::zero(); tn * isz];
        for (di, g) in grads.into_iter().enumerate() {
            let k = li * d + di;
            let sl = &slots[k];
            let gh = g.dbx.len();
            dw[sl.wx..sl.wx + g.dwx.len()].copy_from_slice(&g.dwx);
            dw[sl.wh..sl.wh + g.dwh.len()].copy_from_slice(&g.dwh);
            if let Some(wr) = sl.wr {
                dw[wr..wr + g.dwr.len()].copy_from_slice(&g.dwr);
            }
            dw[sl.bx..sl.bx + gh].copy_from_slice(&g.dbx);
            dw[sl.bh..sl.bh + gh].copy_from_slice(&g.dbh);
            dhx[k * nr..(k + 1) * nr].copy_from_slice(&g.dh0);
            if c.s.lstm() {
                dcx[k * nh..(k + 1) * nh].copy_from_slice(&g.dc0);
            }
            if !g.dx.is_empty() {
                dinput.iter_mut().zip(&g.dx).for_each(|(a, &b)| *a = *a + b);
            }
        }
        if li > 0 {
            if let Some(key) = key {
                let m = mask::<T>(key, li, dinput.len(), c.s.p);
                dinput.iter_mut().zip(&m).for_each(|(v, &k)| *v = *v * k);
            }
        }
        dout = dinput;
    }
    Ok(Grads {
        dx: dout,
        dw,
        dhx,
        dcx,
    })
}

// ---------------------------------------------------------------------------------------------
// The ops

fn vec_of<T: CpuElement>(op: &str, t: &Tensor) -> Result<Vec<T>> {
    with_slice::<T, _>(op, t, |s| Ok(s.to_vec()))
}

fn lengths(op: &str, t: &Tensor, nt: usize) -> Result<Vec<usize>> {
    t.to_device(crate::Device::Cpu(0))?
        .to_f64_vec()?
        .into_iter()
        .map(|v| {
            if v.fract() != 0.0 || v < 0.0 || v > nt as f64 {
                Err(Error::value(
                    op,
                    format!(
                        "sequence_length values must be whole numbers in [0, {nt}] (the sequence \
                         length of data), got {v}"
                    ),
                ))
            } else {
                Ok(v as usize)
            }
        })
        .collect()
}

/// `RNN(data, parameters, state[, state_cell][, sequence_length])`.
pub struct Rnn {
    pub spec: RnnSpec,
    /// The dropout key, when dropout is active (training with p > 0).
    pub key: Option<u64>,
    /// The forward pass's kept state and (a detached handle of) the output it belongs to. The
    /// autograd node owns this op, so a handle with the output's entry here would be a cycle.
    cache: Mutex<Option<(Tensor, Arc<AnyReserve>)>>,
}

impl Rnn {
    pub fn new(spec: RnnSpec, key: Option<u64>) -> Rnn {
        Rnn {
            spec,
            key,
            cache: Mutex::new(None),
        }
    }
}

/// The forward pass in `T`; returns the outputs (in `T`) and, with `keep`, the kept state.
fn run_forward<T: Elem + Default>(
    spec: &RnnSpec,
    key: Option<u64>,
    x: &[Tensor],
    keep: bool,
) -> Result<(Forward<T>, Dims)> {
    let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
    let (dm, slots) = spec.check(OP, &metas, 0)?;
    let xd = vec_of::<T>(OP, &x[0])?;
    let hx = vec_of::<T>(OP, &x[2])?;
    let cx = if spec.lstm() {
        vec_of::<T>(OP, &x[3])?
    } else {
        Vec::new()
    };
    let lens = if spec.use_sequence_length {
        Some(lengths(OP, &x[if spec.lstm() { 4 } else { 3 }], dm.t)?)
    } else {
        None
    };
    let f = with_slice::<T, _>(OP, &x[1], |w| {
        let c = Ctxt {
            s: spec,
            dm,
            w,
            lens: lens.as_deref(),
        };
        forward_all(&c, &slots, &xd, &hx, &cx, key, keep)
    })?;
    Ok((f, dm))
}

impl Op for Rnn {
    /// A new op for each graph run: its own dropout key, and its own forward state for backward.
    fn fresh(&self) -> Option<Arc<dyn Op>> {
        let key = self.key.map(|_| crate::ops::random::next_key());
        Some(Arc::new(Rnn::new(self.spec.clone(), key)))
    }
    fn name(&self) -> &'static str {
        "rnn"
    }
    fn mxnet_name(&self) -> &'static str {
        "RNN"
    }
    fn attrs(&self) -> Attrs {
        self.spec.attrs()
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let (dm, _) = self.spec.check(OP, i, 0)?;
        Ok(self.spec.out_metas(&dm, i[0].dtype))
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let keep =
            autograd::is_recording() && x.iter().any(|t| t.entry().is_some_and(|e| e.needs_grad()));
        let dtype = x[0].dtype();
        let s = &self.spec;
        macro_rules! go {
            ($t:ty) => {{
                let (f, dm) = cpu::on_pool(|| run_forward::<$t>(s, self.key, x, keep))?;
                let mut outs = vec![Tensor::from_vec(f.out, &[dm.t, dm.n, dm.d * dm.r])?];
                if s.state_outputs {
                    outs.push(Tensor::from_vec(f.hy, &[dm.l * dm.d, dm.n, dm.r])?);
                    if s.lstm() {
                        outs.push(Tensor::from_vec(f.cy, &[dm.l * dm.d, dm.n, dm.h])?);
                    }
                }
                (outs, f.reserve.map(<$t as Elem>::wrap_reserve))
            }};
        }
        let (outs, reserve) = if work_dtype(dtype) == DType::F64 {
            go!(f64)
        } else {
            go!(f32)
        };
        let outs = outs
            .into_iter()
            .map(|t| t.cast_to(dtype))
            .collect::<Result<Vec<_>>>()?;
        if let Some(r) = reserve {
            *self.cache.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((outs[0].detach(), Arc::new(r)));
        }
        Ok(outs)
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let s = &self.spec;
        let out0 = &ctx.outputs[0];
        let reserve = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|(o, _)| o.same_storage(out0))
            .map(|(_, r)| r.clone());
        let metas: Vec<Meta> = ctx.inputs.iter().map(Meta::of).collect();
        let (dm, _) = s.check(OP, &metas, 0)?;
        let dtype = ctx.inputs[0].dtype();
        let dev = ctx.inputs[0].device();
        let grad_or_zeros = |k: usize, shape: &[usize]| -> Result<Tensor> {
            match g.get(k).and_then(|t| t.clone()) {
                Some(t) => Ok(t),
                None => Tensor::zeros(shape, dtype, dev),
            }
        };
        let mut ins: Vec<Tensor> = ctx.inputs.to_vec();
        ins.push(grad_or_zeros(0, &[dm.t, dm.n, dm.d * dm.r])?);
        let (ks, kc) = if s.state_outputs {
            (1, 2)
        } else {
            (usize::MAX, usize::MAX)
        };
        ins.push(grad_or_zeros(ks, &[dm.l * dm.d, dm.n, dm.r])?);
        if s.lstm() {
            ins.push(grad_or_zeros(kc, &[dm.l * dm.d, dm.n, dm.h])?);
        }
        let bop = RnnBackward {
            spec: s.clone(),
            key: self.key,
            want_data: ctx.needs_grad(0),
            reserve,
        };
        let refs: Vec<&Tensor> = ins.iter().collect();
        let grads = apply(Arc::new(bop), &refs)?;
        let mut out: Vec<Option<Tensor>> = grads.into_iter().map(Some).collect();
        if s.use_sequence_length {
            out.push(None);
        }
        for (k, o) in out.iter_mut().enumerate() {
            if !ctx.needs_grad(k) {
                *o = None;
            }
        }
        Ok(out)
    }
}

/// `_backward_RNN(data, parameters, state[, state_cell][, sequence_length], dout, dstate
/// [, dstate_cell])`: the gradients of data, parameters, state (and state_cell).
pub struct RnnBackward {
    pub spec: RnnSpec,
    pub key: Option<u64>,
    /// Whether the data gradient is wanted (else it is returned as zeros, its GEMM skipped).
    pub want_data: bool,
    reserve: Option<Arc<AnyReserve>>,
}

fn run_backward<T: Elem + Default>(
    b: &RnnBackward,
    x: &[Tensor],
) -> Result<(Grads<T>, Dims, usize)> {
    let s = &b.spec;
    let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
    let (dm, slots) = s.check(BOP, &metas, if s.lstm() { 3 } else { 2 })?;
    let total = slots
        .last()
        .map_or(0, |sl| sl.bh + s.mode.gates() * s.state_size);
    let nin = s.input_names().len();
    let xd = vec_of::<T>(BOP, &x[0])?;
    let hx = vec_of::<T>(BOP, &x[2])?;
    let cx = if s.lstm() {
        vec_of::<T>(BOP, &x[3])?
    } else {
        Vec::new()
    };
    let lens = if s.use_sequence_length {
        Some(lengths(BOP, &x[nin - 1], dm.t)?)
    } else {
        None
    };
    let dy = vec_of::<T>(BOP, &x[nin])?;
    let dhy = vec_of::<T>(BOP, &x[nin + 1])?;
    let dcy = if s.lstm() {
        vec_of::<T>(BOP, &x[nin + 2])?
    } else {
        Vec::new()
    };
    let g = with_slice::<T, _>(BOP, &x[1], |w| {
        let c = Ctxt {
            s,
            dm,
            w,
            lens: lens.as_deref(),
        };
        let cached = b.reserve.as_deref().and_then(T::reserve);
        let fresh;
        let res = match cached {
            Some(r) => r,
            None => {
                fresh = forward_all(&c, &slots, &xd, &hx, &cx, b.key, true)?
                    .reserve
                    .expect("kept");
                &fresh
            }
        };
        backward_all(
            &c,
            &slots,
            total,
            &xd,
            &hx,
            &cx,
            res,
            b.key,
            &dy,
            &dhy,
            &dcy,
            b.want_data,
        )
    })?;
    Ok((g, dm, total))
}

impl Op for RnnBackward {
    fn name(&self) -> &'static str {
        BOP
    }
    fn attrs(&self) -> Attrs {
        self.spec.attrs()
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let s = &self.spec;
        s.check(BOP, i, if s.lstm() { 3 } else { 2 })?;
        let k = if s.lstm() { 4 } else { 3 };
        Ok(i[..k].to_vec())
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let dtype = x[0].dtype();
        let s = &self.spec;
        macro_rules! go {
            ($t:ty) => {{
                let (g, dm, total) = cpu::on_pool(|| run_backward::<$t>(self, x))?;
                let mut outs = vec![
                    Tensor::from_vec(g.dx, &[dm.t, dm.n, dm.i])?,
                    Tensor::from_vec(g.dw, &[total])?,
                    Tensor::from_vec(g.dhx, &[dm.l * dm.d, dm.n, dm.r])?,
                ];
                if s.lstm() {
                    outs.push(Tensor::from_vec(g.dcx, &[dm.l * dm.d, dm.n, dm.h])?);
                }
                outs
            }};
        }
        let outs = if work_dtype(dtype) == DType::F64 {
            go!(f64)
        } else {
            go!(f32)
        };
        outs.into_iter().map(|t| t.cast_to(dtype)).collect()
    }
    fn backward(&self, _ctx: &Ctx, _g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        Err(Error::Autograd(
            "RNN: gradients of the RNN gradient (_backward_RNN, higher order) are not supported"
                .into(),
        ))
    }
}

fn rnn_builder(a: &Attrs) -> Result<Arc<dyn Op>> {
    let spec = RnnSpec::from_attrs(OP, a)?;
    let active = spec.p > 0.0 && spec.num_layers > 1 && autograd::is_training();
    Ok(Arc::new(Rnn::new(
        spec,
        active.then(crate::ops::random::next_key),
    )))
}

fn backward_builder(a: &Attrs) -> Result<Arc<dyn Op>> {
    let spec = RnnSpec::from_attrs(BOP, a)?;
    let active = spec.p > 0.0 && spec.num_layers > 1 && autograd::is_training();
    Ok(Arc::new(RnnBackward {
        spec,
        key: active.then(crate::ops::random::next_key),
        want_data: true,
        reserve: None,
    }))
}

pub fn register(r: &mut Registry) {
    for n in ["rnn", "RNN", "_npx_rnn"] {
        r.insert(n, rnn_builder);
    }
    r.insert(BOP, backward_builder);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{build, invoke};

    fn vals(n: usize, seed: u64) -> Vec<f64> {
        let s = Stream::with_key(seed);
        (0..n as u64).map(|i| s.uniform(i) * 1.6 - 0.8).collect()
    }

    fn attrs(mode: &str, layers: i64, bidir: bool, proj: Option<i64>) -> Attrs {
        let a = Attrs::new()
            .with("mode", Attr::Str(mode.into()))
            .with("state_size", Attr::Int(3))
            .with("num_layers", Attr::Int(layers))
            .with("bidirectional", Attr::Bool(bidir))
            .with("state_outputs", Attr::Bool(true));
        match proj {
            Some(p) => a.with("projection_size", Attr::Int(p)),
            None => a,
        }
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn attrs_round_trip_through_mxnet_strings() {
        let a = attrs("lstm", 2, true, Some(2))
            .with("lstm_state_clip_min", Attr::Float(-1.0))
            .with("lstm_state_clip_max", Attr::Float(1.0));
        let op = build("RNN", &a).unwrap();
        assert_eq!(op.mxnet_name(), "RNN");
        assert_eq!(
            build("RNN", &op.attrs().stringified()).unwrap().attrs(),
            op.attrs()
        );
    }

    /// `_backward_RNN` against central differences of <outputs, weights> along a random direction.
    #[test]
    fn backward_matches_directional_differences() {
        for (mode, layers, bidir, proj) in [
            ("lstm", 2, true, Some(2)),
            ("lstm", 1, false, None),
            ("gru", 2, true, None),
            ("rnn_tanh", 2, false, None),
            ("rnn_relu", 1, true, None),
        ] {
            let a = attrs(mode, layers, bidir, proj);
            let spec = RnnSpec::from_attrs(OP, &a).unwrap();
            let (t, n, i, d) = (3, 2, 2, spec.dirs());
            let (l, h, r) = (layers as usize, 3, spec.rsize());
            let total = spec.slots(i).1;
            let mut shapes = vec![vec![t, n, i], vec![total], vec![l * d, n, r]];
            if spec.lstm() {
                shapes.push(vec![l * d, n, h]);
            }
            let ins: Vec<Vec<f64>> = shapes
                .iter()
                .enumerate()
                .map(|(k, s)| vals(s.iter().product(), k as u64 + 1))
                .collect();
            let tens = |v: &[Vec<f64>]| -> Vec<Tensor> {
                v.iter()
                    .zip(&shapes)
                    .map(|(x, s)| Tensor::from_vec(x.clone(), s).unwrap())
                    .collect()
            };
            let outs = |v: &[Vec<f64>]| -> Vec<Vec<f64>> {
                let ts = tens(v);
                let refs: Vec<&Tensor> = ts.iter().collect();
                invoke("RNN", &refs, &a)
                    .unwrap()
                    .iter()
                    .map(|o| o.to_f64_vec().unwrap())
                    .collect()
            };
            let base = outs(&ins);
            let ws: Vec<Vec<f64>> = base
                .iter()
                .enumerate()
                .map(|(k, o)| vals(o.len(), 100 + k as u64))
                .collect();
            let loss =
                |v: &[Vec<f64>]| -> f64 { outs(v).iter().zip(&ws).map(|(o, w)| dot(o, w)).sum() };
            let mut bins = tens(&ins);
            let out_shapes = [vec![t, n, d * r], vec![l * d, n, r], vec![l * d, n, h]];
            for (w, s) in ws.iter().zip(&out_shapes) {
                bins.push(Tensor::from_vec(w.clone(), s).unwrap());
            }
            let refs: Vec<&Tensor> = bins.iter().collect();
            let grads = invoke("_backward_RNN", &refs, &a).unwrap();
            assert_eq!(grads.len(), shapes.len());
            let eps = 1e-6;
            for (k, g) in grads.iter().enumerate() {
                let dir = vals(ins[k].len(), 200 + k as u64);
                let shifted = |sign: f64| {
                    let mut v = ins.clone();
                    v[k].iter_mut()
                        .zip(&dir)
                        .for_each(|(x, d)| *x += sign * eps * d);
                    loss(&v)
                };
                let fd = (shifted(1.0) - shifted(-1.0)) / (2.0 * eps);
                let an = dot(&g.to_f64_vec().unwrap(), &dir);
                assert!(
                    (fd - an).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "{mode} layers={layers} bidir={bidir} input {k}: {an} vs {fd}"
                );
            }
        }
    }

    #[test]
    fn errors_name_the_op_and_the_shapes() {
        let a = attrs("gru", 1, false, None);
        let x = Tensor::from_vec(vals(12, 1), &[2, 3, 2]).unwrap();
        let p = Tensor::from_vec(vals(10, 2), &[10]).unwrap();
        let h = Tensor::from_vec(vals(9, 3), &[1, 3, 3]).unwrap();
        let e = invoke("RNN", &[&x, &p, &h], &a).unwrap_err().to_string();
        assert!(
            e.contains("RNN") && e.contains("parameters has shape (10,)"),
            "{e}"
        );
        assert!(e.contains("(63,)"), "{e}");
        let e = invoke("RNN", &[&x, &p], &a).unwrap_err().to_string();
        assert!(
            e.contains("expected 3 inputs (data, parameters, state)"),
            "{e}"
        );
        let e = build("RNN", &a.clone().with("p", Attr::Float(1.0)))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("[0, 1)"), "{e}");
    }
}
