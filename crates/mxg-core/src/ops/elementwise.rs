//! Elementwise ops: binary arithmetic and comparisons with NumPy broadcasting, their scalar forms,
//! unary math, casts, `where` and `clip`.
use super::{apply1, unbroadcast, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::backend::cpu::num::{erf, round_half_even, Num, Real};
use crate::backend::cpu::{self, zip_view};
use crate::layout::broadcast_shapes;
use crate::storage::{CpuElement, CpuStorage};
use crate::{with_compute_dtype, DType, Error, Result, Tensor};
use std::sync::Arc;

/// Cast a gradient to the dtype of the value it belongs to, summing out broadcast dims.
fn fit(g: Tensor, like: &Tensor) -> Result<Tensor> {
    let g = unbroadcast(g, like.shape())?;
    if g.dtype() == like.dtype() {
        Ok(g)
    } else {
        g.cast(like.dtype())
    }
}

// ---------------------------------------------------------------------------------------------
// Binary

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    Maximum,
    Minimum,
    Arctan2,
    Hypot,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Xor,
}

const BINS: [Bin; 20] = [
    Bin::Add,
    Bin::Sub,
    Bin::Mul,
    Bin::Div,
    Bin::FloorDiv,
    Bin::Mod,
    Bin::Pow,
    Bin::Maximum,
    Bin::Minimum,
    Bin::Arctan2,
    Bin::Hypot,
    Bin::Eq,
    Bin::Ne,
    Bin::Lt,
    Bin::Le,
    Bin::Gt,
    Bin::Ge,
    Bin::And,
    Bin::Or,
    Bin::Xor,
];

impl Bin {
    /// NumPy's name (MXNet 2.x: `_npi_<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Bin::Add => "add",
            Bin::Sub => "subtract",
            Bin::Mul => "multiply",
            Bin::Div => "true_divide",
            Bin::FloorDiv => "floor_divide",
            Bin::Mod => "mod",
            Bin::Pow => "power",
            Bin::Maximum => "maximum",
            Bin::Minimum => "minimum",
            Bin::Arctan2 => "arctan2",
            Bin::Hypot => "hypot",
            Bin::Eq => "equal",
            Bin::Ne => "not_equal",
            Bin::Lt => "less",
            Bin::Le => "less_equal",
            Bin::Gt => "greater",
            Bin::Ge => "greater_equal",
            Bin::And => "logical_and",
            Bin::Or => "logical_or",
            Bin::Xor => "logical_xor",
        }
    }

    /// MXNet 1.x's broadcasting operator.
    pub fn mxnet_name(self) -> &'static str {
        match self {
            Bin::Add => "broadcast_add",
            Bin::Sub => "broadcast_sub",
            Bin::Mul => "broadcast_mul",
            Bin::Div => "broadcast_div",
            Bin::FloorDiv => "_npi_floor_divide",
            Bin::Mod => "broadcast_mod",
            Bin::Pow => "broadcast_power",
            Bin::Maximum => "broadcast_maximum",
            Bin::Minimum => "broadcast_minimum",
            Bin::Arctan2 => "_npi_arctan2",
            Bin::Hypot => "broadcast_hypot",
            Bin::Eq => "broadcast_equal",
            Bin::Ne => "broadcast_not_equal",
            Bin::Lt => "broadcast_lesser",
            Bin::Le => "broadcast_lesser_equal",
            Bin::Gt => "broadcast_greater",
            Bin::Ge => "broadcast_greater_equal",
            Bin::And => "broadcast_logical_and",
            Bin::Or => "broadcast_logical_or",
            Bin::Xor => "broadcast_logical_xor",
        }
    }

    /// MXNet 1.x's scalar operator (`x op s`, or `s op x` when reversed).
    pub fn scalar_mxnet_name(self, reverse: bool) -> &'static str {
        match (self, reverse) {
            (Bin::Add, _) => "_plus_scalar",
            (Bin::Sub, false) => "_minus_scalar",
            (Bin::Sub, true) => "_rminus_scalar",
            (Bin::Mul, _) => "_mul_scalar",
            (Bin::Div, false) => "_div_scalar",
            (Bin::Div, true) => "_rdiv_scalar",
            (Bin::FloorDiv, false) => "_npi_floor_divide_scalar",
            (Bin::FloorDiv, true) => "_npi_rfloor_divide_scalar",
            (Bin::Mod, false) => "_mod_scalar",
            (Bin::Mod, true) => "_rmod_scalar",
            (Bin::Pow, false) => "_power_scalar",
            (Bin::Pow, true) => "_rpower_scalar",
            (Bin::Maximum, _) => "_maximum_scalar",
            (Bin::Minimum, _) => "_minimum_scalar",
            (Bin::Arctan2, false) => "_npi_arctan2_scalar",
            (Bin::Arctan2, true) => "_npi_rarctan2_scalar",
            (Bin::Hypot, _) => "_hypot_scalar",
            (Bin::Eq, _) => "_equal_scalar",
            (Bin::Ne, _) => "_not_equal_scalar",
            (Bin::Lt, false) | (Bin::Gt, true) => "_lesser_scalar",
            (Bin::Le, false) | (Bin::Ge, true) => "_lesser_equal_scalar",
            (Bin::Gt, false) | (Bin::Lt, true) => "_greater_scalar",
            (Bin::Ge, false) | (Bin::Le, true) => "_greater_equal_scalar",
            (Bin::And, _) => "_logical_and_scalar",
            (Bin::Or, _) => "_logical_or_scalar",
            (Bin::Xor, _) => "_logical_xor_scalar",
        }
    }

    pub fn from_name(name: &str) -> Option<Bin> {
        BINS.into_iter().find(|b| b.name() == name)
    }

    fn is_predicate(self) -> bool {
        matches!(
            self,
            Bin::Eq
                | Bin::Ne
                | Bin::Lt
                | Bin::Le
                | Bin::Gt
                | Bin::Ge
                | Bin::And
                | Bin::Or
                | Bin::Xor
        )
    }

    fn float_only(self) -> bool {
        matches!(self, Bin::Div | Bin::Arctan2 | Bin::Hypot)
    }

    /// The dtype the op works in, given the promoted input dtype. MXNet's default float is float32.
    fn work_dtype(self, promoted: DType) -> DType {
        if self.float_only() && !promoted.is_float() {
            DType::F32
        } else {
            promoted
        }
    }

    fn out_dtype(self, work: DType) -> DType {
        if self.is_predicate() {
            DType::Bool
        } else {
            work
        }
    }
}

/// `a op b` for two tensors already in the compute dtype, broadcast to `shape`.
fn binary_kernel(op: Bin, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<CpuStorage> {
    let name = op.name();
    let (sa, sb) = (a.storage()?, b.storage()?);
    let (la, lb) = (a.layout(), b.layout());
    let (ca, cb) = (sa.cpu(name)?, sb.cpu(name)?);
    if matches!(op, Bin::Arctan2 | Bin::Hypot) {
        return match a.dtype() {
            DType::F32 => Ok(float_binary::<f32>(
                op,
                f32::slice(ca),
                la,
                f32::slice(cb),
                lb,
                shape,
            )),
            DType::F64 => Ok(float_binary::<f64>(
                op,
                f64::slice(ca),
                la,
                f64::slice(cb),
                lb,
                shape,
            )),
            d => Err(Error::unsupported_dtype(name, d)),
        };
    }
    with_compute_dtype!(
        a.dtype(),
        T,
        {
            let (x, y) = (T::slice(ca), T::slice(cb));
            macro_rules! z {
                ($f:expr) => {
                    zip_view(x, la, y, lb, shape, $f)
                };
            }
            let zero = <T as crate::Element>::zero();
            Ok(match op {
                Bin::Add => T::wrap(z!(<T as Num>::add)),
                Bin::Sub => T::wrap(z!(<T as Num>::sub)),
                Bin::Mul => T::wrap(z!(<T as Num>::mul)),
                Bin::Div => T::wrap(z!(<T as Num>::div)),
                Bin::FloorDiv => T::wrap(z!(<T as Num>::floordiv)),
                Bin::Mod => T::wrap(z!(<T as Num>::rem)),
                Bin::Pow => T::wrap(z!(<T as Num>::pow)),
                Bin::Maximum => T::wrap(z!(<T as Num>::max)),
                Bin::Minimum => T::wrap(z!(<T as Num>::min)),
                Bin::Eq => CpuStorage::Bool(z!(|p: T, q: T| p == q)),
                Bin::Ne => CpuStorage::Bool(z!(|p: T, q: T| p != q)),
                Bin::Lt => CpuStorage::Bool(z!(|p: T, q: T| p < q)),
                Bin::Le => CpuStorage::Bool(z!(|p: T, q: T| p <= q)),
                Bin::Gt => CpuStorage::Bool(z!(|p: T, q: T| p > q)),
                Bin::Ge => CpuStorage::Bool(z!(|p: T, q: T| p >= q)),
                Bin::And => CpuStorage::Bool(z!(|p: T, q: T| p != zero && q != zero)),
                Bin::Or => CpuStorage::Bool(z!(|p: T, q: T| p != zero || q != zero)),
                Bin::Xor => CpuStorage::Bool(z!(|p: T, q: T| (p != zero) != (q != zero))),
                Bin::Arctan2 | Bin::Hypot => unreachable!("handled above"),
            })
        },
        Err(Error::Unsupported(format!(
            "{name}: half floats are computed as float32"
        )))
    )
}

fn float_binary<T: Real>(
    op: Bin,
    x: &[T],
    la: &crate::Layout,
    y: &[T],
    lb: &crate::Layout,
    shape: &[usize],
) -> CpuStorage {
    match op {
        Bin::Arctan2 => T::wrap(zip_view(x, la, y, lb, shape, |p: T, q: T| p.atan2(q))),
        _ => T::wrap(zip_view(x, la, y, lb, shape, |p: T, q: T| p.hypot(q))),
    }
}

/// Run a binary op on two tensors: promote, compute, and cast back half floats.
fn run_binary(op: Bin, a: &Tensor, b: &Tensor, work: DType, shape: &[usize]) -> Result<Tensor> {
    let ct = work.compute_dtype();
    let (a, b) = (a.cast_to(ct)?, b.cast_to(ct)?);
    let out = Tensor::from_cpu(binary_kernel(op, &a, &b, shape)?, shape)?;
    out.cast_to(op.out_dtype(work))
}

pub struct Binary(pub Bin);

impl Op for Binary {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn mxnet_name(&self) -> &'static str {
        self.0.mxnet_name()
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let shape = broadcast_shapes(self.name(), &i[0].shape, &i[1].shape)?;
        let work = self.0.work_dtype(DType::promote(i[0].dtype, i[1].dtype));
        Ok(vec![Meta::new(shape, self.0.out_dtype(work))])
    }
    fn differentiable(&self) -> bool {
        !self.0.is_predicate() && self.0 != Bin::FloorDiv
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let shape = broadcast_shapes(self.name(), x[0].shape(), x[1].shape())?;
        let work = self
            .0
            .work_dtype(DType::promote(x[0].dtype(), x[1].dtype()));
        Ok(vec![run_binary(self.0, &x[0], &x[1], work, &shape)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let (a, b) = (ctx.input(0), ctx.input(1));
        let (ga, gb) = binary_grads(self.0, &g, a, b, ctx)?;
        Ok(vec![Some(fit(ga, a)?), Some(fit(gb, b)?)])
    }
}

/// Gradients of `a op b` (before summing out broadcast dims).
fn binary_grads(
    op: Bin,
    g: &Tensor,
    a: &Tensor,
    b: &Tensor,
    ctx: &Ctx,
) -> Result<(Tensor, Tensor)> {
    Ok(match op {
        Bin::Add => (g.clone(), g.clone()),
        Bin::Sub => (g.clone(), g.neg()?),
        Bin::Mul => (g.mul(b)?, g.mul(a)?),
        Bin::Div => (g.div(b)?, g.mul(a)?.div(&b.mul(b)?)?.neg()?),
        Bin::Mod => (g.clone(), g.mul(&a.binary(Bin::FloorDiv, b)?)?.neg()?),
        Bin::Pow => (pow_base_grad(g, a, b)?, pow_exponent_grad(g, a, ctx)?),
        Bin::Maximum | Bin::Minimum => {
            let pick_a = a.binary(if op == Bin::Maximum { Bin::Ge } else { Bin::Le }, b)?;
            let ma = pick_a.cast(g.dtype())?;
            let mb = ma.scalar_op(Bin::Sub, 1.0, true)?;
            (g.mul(&ma)?, g.mul(&mb)?)
        }
        Bin::Arctan2 => {
            let den = a.mul(a)?.add(&b.mul(b)?)?;
            (g.mul(b)?.div(&den)?, g.mul(a)?.div(&den)?.neg()?)
        }
        Bin::Hypot => {
            let out = ctx.output(0)?;
            (g.mul(a)?.div(&out)?, g.mul(b)?.div(&out)?)
        }
        _ => (g.zeros_like()?, g.zeros_like()?),
    })
}

/// d(a^b)/da = b a^(b - 1), times g.
fn pow_base_grad(g: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    g.mul(b)?
        .mul(&a.binary(Bin::Pow, &b.scalar_op(Bin::Sub, 1.0, false)?)?)
}

/// d(a^b)/db = a^b ln a, times g.
fn pow_exponent_grad(g: &Tensor, a: &Tensor, ctx: &Ctx) -> Result<Tensor> {
    g.mul(&ctx.output(0)?)?.mul(&a.unary(Un::Log)?)
}

/// `x op scalar`, or `scalar op x` when `reverse`.
pub struct BinaryScalar {
    pub op: Bin,
    pub scalar: f64,
    pub reverse: bool,
    /// The scalar was a Python int: it does not turn an integer array into floats.
    pub is_int: bool,
}

impl BinaryScalar {
    /// `x ** 2` on a float32/float64 x.
    fn is_square(&self, x: DType) -> bool {
        self.op == Bin::Pow
            && !self.reverse
            && self.scalar == 2.0
            && matches!(x, DType::F32 | DType::F64)
    }

    fn work_dtype(&self, x: DType) -> DType {
        let promoted = if x.is_float() {
            x
        } else if !self.is_int {
            DType::F32
        } else if x == DType::Bool && !self.op.is_predicate() {
            DType::I64
        } else if self.op.is_predicate() && !int_fits(self.scalar, x) {
            // `uint8_array > -1`, `bool_array < 2`: compare exactly rather than wrap the scalar.
            DType::I64
        } else {
            x
        };
        self.op.work_dtype(promoted)
    }
}

/// Whether the integer `v` is a value of the integer (or bool) dtype `d`.
fn int_fits(v: f64, d: DType) -> bool {
    let (lo, hi) = match d {
        DType::Bool => (0.0, 1.0),
        DType::U8 => (0.0, 255.0),
        DType::I8 => (-128.0, 127.0),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        _ => return true,
    };
    (lo..=hi).contains(&v)
}

impl Op for BinaryScalar {
    fn name(&self) -> &'static str {
        match (self.op, self.reverse) {
            (Bin::Add, _) => "add_scalar",
            (Bin::Mul, _) => "multiply_scalar",
            (_, false) => "scalar_op",
            (_, true) => "rscalar_op",
        }
    }
    fn mxnet_name(&self) -> &'static str {
        self.op.scalar_mxnet_name(self.reverse)
    }
    /// What MXNet's scalar op of `mxnet_name` takes (the name says the operation and the side).
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("scalar", Attr::Float(self.scalar))
            .with("is_int", Attr::Bool(self.is_int))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(
            i[0].shape.clone(),
            self.op.out_dtype(self.work_dtype(i[0].dtype)),
        )])
    }
    fn differentiable(&self) -> bool {
        !self.op.is_predicate() && self.op != Bin::FloorDiv
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let work = self.work_dtype(x[0].dtype());
        if self.is_square(x[0].dtype()) {
            // the same correctly rounded value as pow(x, 2), without the library call
            return Ok(vec![x[0].unary(Un::Square)?]);
        }
        let s = Tensor::scalar(self.scalar, work.compute_dtype());
        let (a, b) = if self.reverse {
            (&s, &x[0])
        } else {
            (&x[0], &s)
        };
        Ok(vec![run_binary(self.op, a, b, work, x[0].shape())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let x = ctx.input(0);
        let s = Tensor::scalar(self.scalar, self.work_dtype(x.dtype()).compute_dtype());
        let gx = match (self.op, self.reverse) {
            (Bin::Pow, false) if self.is_square(x.dtype()) => {
                g.mul(x)?.scalar_op(Bin::Mul, 2.0, false)?
            }
            (Bin::Pow, false) => pow_base_grad(&g, x, &s)?,
            (Bin::Pow, true) => pow_exponent_grad(&g, &s, ctx)?,
            (_, true) => binary_grads(self.op, &g, &s, x, ctx)?.1,
            (_, false) => binary_grads(self.op, &g, x, &s, ctx)?.0,
        };
        Ok(vec![Some(fit(gx, x)?)])
    }
}

// ---------------------------------------------------------------------------------------------
// Unary

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Un {
    Neg,
    Abs,
    Sign,
    Square,
    Relu,
    Floor,
    Ceil,
    Round,
    Trunc,
    Fix,
    LogicalNot,
    IsNan,
    IsInf,
    IsFinite,
    Sqrt,
    Rsqrt,
    Cbrt,
    Reciprocal,
    Exp,
    Expm1,
    Log,
    Log2,
    Log10,
    Log1p,
    Sin,
    Cos,
    Tan,
    Arcsin,
    Arccos,
    Arctan,
    Sinh,
    Cosh,
    Tanh,
    Arcsinh,
    Arccosh,
    Arctanh,
    Degrees,
    Radians,
    Sigmoid,
    Softsign,
    Softrelu,
    Erf,
}

impl Un {
    pub fn name(self) -> &'static str {
        match self {
            Un::Neg => "negative",
            Un::Abs => "absolute",
            Un::Sign => "sign",
            Un::Square => "square",
            Un::Relu => "relu",
            Un::Floor => "floor",
            Un::Ceil => "ceil",
            Un::Round => "rint",
            Un::Trunc => "trunc",
            Un::Fix => "fix",
            Un::LogicalNot => "logical_not",
            Un::IsNan => "isnan",
            Un::IsInf => "isinf",
            Un::IsFinite => "isfinite",
            Un::Sqrt => "sqrt",
            Un::Rsqrt => "rsqrt",
            Un::Cbrt => "cbrt",
            Un::Reciprocal => "reciprocal",
            Un::Exp => "exp",
            Un::Expm1 => "expm1",
            Un::Log => "log",
            Un::Log2 => "log2",
            Un::Log10 => "log10",
            Un::Log1p => "log1p",
            Un::Sin => "sin",
            Un::Cos => "cos",
            Un::Tan => "tan",
            Un::Arcsin => "arcsin",
            Un::Arccos => "arccos",
            Un::Arctan => "arctan",
            Un::Sinh => "sinh",
            Un::Cosh => "cosh",
            Un::Tanh => "tanh",
            Un::Arcsinh => "arcsinh",
            Un::Arccosh => "arccosh",
            Un::Arctanh => "arctanh",
            Un::Degrees => "degrees",
            Un::Radians => "radians",
            Un::Sigmoid => "sigmoid",
            Un::Softsign => "softsign",
            Un::Softrelu => "softrelu",
            Un::Erf => "erf",
        }
    }

    /// MXNet 1.x's operator name.
    pub fn mxnet_name(self) -> &'static str {
        match self {
            Un::Neg => "negative",
            Un::Abs => "abs",
            Un::Round => "rint",
            Un::Arcsin => "arcsin",
            Un::LogicalNot => "logical_not",
            Un::IsNan => "_npi_isnan",
            Un::IsInf => "_npi_isinf",
            Un::IsFinite => "_npi_isfinite",
            Un::Softrelu => "softrelu",
            u => u.name(),
        }
    }

    /// Keeps integer dtypes (the others turn integers into float32, as MXNet does).
    fn keeps_int(self) -> bool {
        matches!(
            self,
            Un::Neg
                | Un::Abs
                | Un::Sign
                | Un::Square
                | Un::Relu
                | Un::Floor
                | Un::Ceil
                | Un::Round
                | Un::Trunc
                | Un::Fix
        )
    }

    fn is_predicate(self) -> bool {
        matches!(self, Un::LogicalNot | Un::IsNan | Un::IsInf | Un::IsFinite)
    }

    fn out_dtype(self, x: DType) -> DType {
        if self.is_predicate() {
            DType::Bool
        } else if self.keeps_int() || x.is_float() {
            x
        } else {
            DType::F32
        }
    }
}

fn int_unary<T: Num>(op: Un, x: &[T], l: &crate::Layout) -> CpuStorage {
    let zero = T::zero();
    match op {
        Un::Neg => T::wrap(cpu::map_view(x, l, <T as Num>::neg)),
        Un::Abs => T::wrap(cpu::map_view(x, l, <T as Num>::abs)),
        Un::Sign => T::wrap(cpu::map_view(x, l, <T as Num>::sign)),
        Un::Square => T::wrap(cpu::map_view(x, l, |v| <T as Num>::mul(v, v))),
        Un::Relu => T::wrap(cpu::map_view(x, l, |v| if v > zero { v } else { zero })),
        Un::LogicalNot => CpuStorage::Bool(cpu::map_view(x, l, |v| v == zero)),
        Un::IsNan | Un::IsInf => CpuStorage::Bool(cpu::map_view(x, l, |_| false)),
        Un::IsFinite => CpuStorage::Bool(cpu::map_view(x, l, |_| true)),
        // floor, ceil, rint, trunc, fix of an integer is itself
        _ => T::wrap(cpu::gather(x, l)),
    }
}

fn float_unary<T: Real>(op: Un, x: &[T], l: &crate::Layout) -> CpuStorage {
    let one = T::one();
    let zero = T::zero();
    macro_rules! m {
        ($f:expr) => {
            T::wrap(cpu::map_view(x, l, $f))
        };
    }
    match op {
        Un::Neg => m!(|v: T| <T as Num>::neg(v)),
        Un::Abs => m!(|v: T| <T as Num>::abs(v)),
        Un::Sign => m!(|v: T| <T as Num>::sign(v)),
        Un::Square => m!(|v: T| v * v),
        Un::Relu => m!(|v: T| if v > T::zero() || v.is_nan() {
            v
        } else {
            T::zero()
        }),
        Un::Floor => m!(|v: T| v.floor()),
        Un::Ceil => m!(|v: T| v.ceil()),
        Un::Round => m!(|v: T| T::from_f(round_half_even(v.f()))),
        Un::Trunc | Un::Fix => m!(|v: T| v.trunc()),
        Un::LogicalNot => CpuStorage::Bool(cpu::map_view(x, l, |v: T| v == zero)),
        Un::IsNan => CpuStorage::Bool(cpu::map_view(x, l, |v: T| v.is_nan())),
        Un::IsInf => CpuStorage::Bool(cpu::map_view(x, l, |v: T| v.is_infinite())),
        Un::IsFinite => CpuStorage::Bool(cpu::map_view(x, l, |v: T| v.is_finite())),
        Un::Sqrt => m!(|v: T| v.sqrt()),
        Un::Rsqrt => m!(|v: T| one / v.sqrt()),
        Un::Cbrt => m!(|v: T| v.cbrt()),
        Un::Reciprocal => m!(|v: T| one / v),
        Un::Exp => m!(|v: T| v.exp()),
        Un::Expm1 => m!(|v: T| v.exp_m1()),
        Un::Log => m!(|v: T| v.ln()),
        Un::Log2 => m!(|v: T| v.log2()),
        Un::Log10 => m!(|v: T| v.log10()),
        Un::Log1p => m!(|v: T| v.ln_1p()),
        Un::Sin => m!(|v: T| v.sin()),
        Un::Cos => m!(|v: T| v.cos()),
        Un::Tan => m!(|v: T| v.tan()),
        Un::Arcsin => m!(|v: T| v.asin()),
        Un::Arccos => m!(|v: T| v.acos()),
        Un::Arctan => m!(|v: T| v.atan()),
        Un::Sinh => m!(|v: T| v.sinh()),
        Un::Cosh => m!(|v: T| v.cosh()),
        Un::Tanh => m!(|v: T| v.tanh()),
        Un::Arcsinh => m!(|v: T| v.asinh()),
        Un::Arccosh => m!(|v: T| v.acosh()),
        Un::Arctanh => m!(|v: T| v.atanh()),
        Un::Degrees => m!(|v: T| v * T::from_f(180.0 / std::f64::consts::PI)),
        Un::Radians => m!(|v: T| v * T::from_f(std::f64::consts::PI / 180.0)),
        Un::Sigmoid => m!(|v: T| one / (one + <T as Num>::neg(v).exp())),
        Un::Softsign => m!(|v: T| v / (one + <T as Num>::abs(v))),
        // log(1 + exp(x)), without overflow for large x
        Un::Softrelu => m!(|v: T| if v > T::from_f(20.0) {
            v
        } else {
            v.exp().ln_1p()
        }),
        Un::Erf => m!(|v: T| T::from_f(erf(v.f()))),
    }
}

pub struct Unary(pub Un);

impl Op for Unary {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn mxnet_name(&self) -> &'static str {
        self.0.mxnet_name()
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(
            i[0].shape.clone(),
            self.0.out_dtype(i[0].dtype),
        )])
    }
    fn differentiable(&self) -> bool {
        !self.0.is_predicate()
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let op = self.0;
        let x = &x[0];
        let out_dt = op.out_dtype(x.dtype());
        let work = if op.is_predicate() { x.dtype() } else { out_dt };
        let xc = x.cast_to(work.compute_dtype())?;
        let st = xc.storage()?;
        let c = st.cpu(op.name())?;
        let l = xc.layout();
        let data = match xc.dtype() {
            DType::F32 => float_unary::<f32>(op, f32::slice(c), l),
            DType::F64 => float_unary::<f64>(op, f64::slice(c), l),
            DType::Bool => int_unary::<bool>(op, bool::slice(c), l),
            DType::U8 => int_unary::<u8>(op, u8::slice(c), l),
            DType::I8 => int_unary::<i8>(op, i8::slice(c), l),
            DType::I32 => int_unary::<i32>(op, i32::slice(c), l),
            DType::I64 => int_unary::<i64>(op, i64::slice(c), l),
            d => return Err(Error::unsupported_dtype(op.name(), d)),
        };
        let out = Tensor::from_cpu(data, x.shape())?;
        Ok(vec![out.cast_to(out_dt)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let x = ctx.input(0);
        let s = |t: &Tensor, op: Bin, v: f64| t.scalar_op(op, v, false);
        let gx = match self.0 {
            Un::Neg => g.neg()?,
            Un::Abs => g.mul(&x.unary(Un::Sign)?)?,
            Un::Square => g.mul(&s(x, Bin::Mul, 2.0)?)?,
            Un::Relu => g.mul(&s(x, Bin::Gt, 0.0)?.cast(g.dtype())?)?,
            Un::Sqrt => g.div(&s(&ctx.output(0)?, Bin::Mul, 2.0)?)?,
            Un::Rsqrt => g.mul(&s(&ctx.output(0)?.div(x)?, Bin::Mul, -0.5)?)?,
            Un::Cbrt => {
                let o = ctx.output(0)?;
                g.div(&s(&o.mul(&o)?, Bin::Mul, 3.0)?)?
            }
            Un::Reciprocal => {
                let o = ctx.output(0)?;
                g.mul(&o.mul(&o)?)?.neg()?
            }
            Un::Exp => g.mul(&ctx.output(0)?)?,
            Un::Expm1 => g.mul(&s(&ctx.output(0)?, Bin::Add, 1.0)?)?,
            Un::Log => g.div(x)?,
            Un::Log2 => g.div(&s(x, Bin::Mul, std::f64::consts::LN_2)?)?,
            Un::Log10 => g.div(&s(x, Bin::Mul, std::f64::consts::LN_10)?)?,
            Un::Log1p => g.div(&s(x, Bin::Add, 1.0)?)?,
            Un::Sin => g.mul(&x.unary(Un::Cos)?)?,
            Un::Cos => g.mul(&x.unary(Un::Sin)?)?.neg()?,
            Un::Tan => {
                let o = ctx.output(0)?;
                g.mul(&s(&o.mul(&o)?, Bin::Add, 1.0)?)?
            }
            Un::Arcsin | Un::Arccos => {
                let d = x.mul(x)?.scalar_op(Bin::Sub, 1.0, true)?.unary(Un::Sqrt)?;
                let r = g.div(&d)?;
                if self.0 == Un::Arccos {
                    r.neg()?
                } else {
                    r
                }
            }
            Un::Arctan => g.div(&s(&x.mul(x)?, Bin::Add, 1.0)?)?,
            Un::Sinh => g.mul(&x.unary(Un::Cosh)?)?,
            Un::Cosh => g.mul(&x.unary(Un::Sinh)?)?,
            Un::Tanh => {
                let o = ctx.output(0)?;
                g.mul(&o.mul(&o)?.scalar_op(Bin::Sub, 1.0, true)?)?
            }
            Un::Arcsinh => g.div(&s(&x.mul(x)?, Bin::Add, 1.0)?.unary(Un::Sqrt)?)?,
            Un::Arccosh => g.div(&s(&x.mul(x)?, Bin::Sub, 1.0)?.unary(Un::Sqrt)?)?,
            Un::Arctanh => g.div(&x.mul(x)?.scalar_op(Bin::Sub, 1.0, true)?)?,
            Un::Degrees => s(&g, Bin::Mul, 180.0 / std::f64::consts::PI)?,
            Un::Radians => s(&g, Bin::Mul, std::f64::consts::PI / 180.0)?,
            Un::Sigmoid => {
                let o = ctx.output(0)?;
                g.mul(&o.mul(&o.scalar_op(Bin::Sub, 1.0, true)?)?)?
            }
            Un::Softsign => {
                let d = s(&x.unary(Un::Abs)?, Bin::Add, 1.0)?;
                g.div(&d.mul(&d)?)?
            }
            Un::Softrelu => g.mul(&x.unary(Un::Sigmoid)?)?,
            Un::Erf => {
                let e = x.mul(x)?.neg()?.unary(Un::Exp)?;
                g.mul(&s(&e, Bin::Mul, std::f64::consts::FRAC_2_SQRT_PI)?)?
            }
            // piecewise constant: zero gradient
            _ => g.zeros_like()?,
        };
        Ok(vec![Some(fit(gx, x)?)])
    }
}

// ---------------------------------------------------------------------------------------------
// Casts, copies, where, clip

pub struct Cast(pub DType);

impl Op for Cast {
    fn name(&self) -> &'static str {
        "astype"
    }
    fn mxnet_name(&self) -> &'static str {
        "Cast"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("dtype", Attr::Str(self.0.name().into()))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(i[0].shape.clone(), self.0)])
    }
    fn differentiable(&self) -> bool {
        self.0.is_float()
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(vec![x[0].cast_copy(self.0)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let x = ctx.input(0);
        Ok(vec![if x.dtype().is_float() {
            Some(g[0].clone().expect("single output").cast(x.dtype())?)
        } else {
            None
        }])
    }
}

/// A contiguous copy (`x.copy()`, `_copy`).
pub struct Copy;

impl Op for Copy {
    fn name(&self) -> &'static str {
        "copy"
    }
    fn mxnet_name(&self) -> &'static str {
        "_copy"
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![i[0].clone()])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(vec![Tensor::from_cpu(
            x[0].to_cpu_storage()?,
            x[0].shape(),
        )?])
    }
    fn backward(&self, _ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![g[0].clone()])
    }
}

/// `where(cond, x, y)` with broadcasting of all three.
pub struct Where;

impl Op for Where {
    fn name(&self) -> &'static str {
        "where"
    }
    fn mxnet_name(&self) -> &'static str {
        "_npi_where"
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let s = broadcast_shapes("where", &i[0].shape, &i[1].shape)?;
        let s = broadcast_shapes("where", &s, &i[2].shape)?;
        Ok(vec![Meta::new(s, DType::promote(i[1].dtype, i[2].dtype))])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let m = &self.infer(&[Meta::of(&x[0]), Meta::of(&x[1]), Meta::of(&x[2])])?[0];
        let ct = m.dtype.compute_dtype();
        let cond = x[0].cast_to(DType::Bool)?;
        let (a, b) = (x[1].cast_to(ct)?, x[2].cast_to(ct)?);
        // where(c, a, b) = select over the broadcast of (c, a) with b.
        let cl = cond.layout().broadcast_to("where", &m.shape)?;
        let al = a.layout().broadcast_to("where", &m.shape)?;
        let bl = b.layout().broadcast_to("where", &m.shape)?;
        let (sc, sa, sb) = (cond.storage()?, a.storage()?, b.storage()?);
        let c = bool::slice(sc.cpu("where")?);
        let data = with_compute_dtype!(
            ct,
            T,
            {
                let (pa, pb) = (T::slice(sa.cpu("where")?), T::slice(sb.cpu("where")?));
                let picked: Vec<T> = cl
                    .offsets()
                    .zip(al.offsets())
                    .zip(bl.offsets())
                    .map(|((oc, oa), ob)| if c[oc] { pa[oa] } else { pb[ob] })
                    .collect();
                T::wrap(picked)
            },
            return Err(Error::Unsupported(
                "where: half floats are computed as float32".into()
            ))
        );
        Ok(vec![Tensor::from_cpu(data, &m.shape)?.cast_to(m.dtype)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        // A numeric condition selects where it is non-zero: the mask is that, not its value.
        let mask = ctx.input(0).cast(DType::Bool)?.cast(g.dtype())?;
        let ga = g.mul(&mask)?;
        let gb = g.mul(&mask.scalar_op(Bin::Sub, 1.0, true)?)?;
        Ok(vec![
            None,
            Some(fit(ga, ctx.input(1))?),
            Some(fit(gb, ctx.input(2))?),
        ])
    }
}

/// `clip(x, a_min, a_max)`; either bound may be absent.
pub struct Clip {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Op for Clip {
    fn name(&self) -> &'static str {
        "clip"
    }
    fn attrs(&self) -> Attrs {
        let f = |v: Option<f64>| v.map_or(Attr::None, Attr::Float);
        Attrs::new()
            .with("a_min", f(self.min))
            .with("a_max", f(self.max))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![i[0].clone()])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let mut y = x[0].clone();
        if let Some(lo) = self.min {
            y = run_binary(
                Bin::Maximum,
                &y,
                &Tensor::scalar(lo, y.dtype().compute_dtype()),
                y.dtype(),
                y.shape(),
            )?;
        }
        if let Some(hi) = self.max {
            y = run_binary(
                Bin::Minimum,
                &y,
                &Tensor::scalar(hi, y.dtype().compute_dtype()),
                y.dtype(),
                y.shape(),
            )?;
        }
        if self.min.is_none() && self.max.is_none() {
            y = Tensor::from_cpu(y.to_cpu_storage()?, y.shape())?;
        }
        Ok(vec![y])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let x = ctx.input(0);
        let mut mask = x.ones_like()?;
        if let Some(lo) = self.min {
            mask = mask.mul(&x.scalar_op(Bin::Ge, lo, false)?.cast(x.dtype())?)?;
        }
        if let Some(hi) = self.max {
            mask = mask.mul(&x.scalar_op(Bin::Le, hi, false)?.cast(x.dtype())?)?;
        }
        Ok(vec![Some(g.mul(&mask)?)])
    }
}

// ---------------------------------------------------------------------------------------------
// Tensor methods and the registry

impl Tensor {
    pub fn binary(&self, op: Bin, other: &Tensor) -> Result<Tensor> {
        apply1(Arc::new(Binary(op)), &[self, other])
    }
    pub fn scalar_op(&self, op: Bin, scalar: f64, reverse: bool) -> Result<Tensor> {
        let is_int = scalar.fract() == 0.0 && !self.dtype().is_float();
        apply1(
            Arc::new(BinaryScalar {
                op,
                scalar,
                reverse,
                is_int,
            }),
            &[self],
        )
    }
    pub fn unary(&self, op: Un) -> Result<Tensor> {
        apply1(Arc::new(Unary(op)), &[self])
    }
    pub fn add(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(Bin::Add, o)
    }
    pub fn sub(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(Bin::Sub, o)
    }
    pub fn mul(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(Bin::Mul, o)
    }
    pub fn div(&self, o: &Tensor) -> Result<Tensor> {
        self.binary(Bin::Div, o)
    }
    pub fn neg(&self) -> Result<Tensor> {
        self.unary(Un::Neg)
    }
    /// A recorded cast (no copy when the dtype is already `dtype`).
    pub fn cast(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        apply1(Arc::new(Cast(dtype)), &[self])
    }
    pub fn zeros_like(&self) -> Result<Tensor> {
        Tensor::zeros(self.shape(), self.dtype(), self.device())
    }
    pub fn ones_like(&self) -> Result<Tensor> {
        Tensor::full(self.shape(), 1.0, self.dtype(), self.device())
    }
}

pub fn register(r: &mut Registry) {
    macro_rules! bin_builders {
        ($($v:ident),*) => {$(
            r.insert(Bin::$v.name(), |_| Ok(Arc::new(Binary(Bin::$v))));
            r.insert(Bin::$v.mxnet_name(), |_| Ok(Arc::new(Binary(Bin::$v))));
        )*};
    }
    bin_builders!(
        Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Maximum, Minimum, Arctan2, Hypot, Eq, Ne, Lt, Le,
        Gt, Ge, And, Or, Xor
    );
    macro_rules! un_builders {
        ($($v:ident),*) => {$(
            r.insert(Un::$v.name(), |_| Ok(Arc::new(Unary(Un::$v))));
            r.insert(Un::$v.mxnet_name(), |_| Ok(Arc::new(Unary(Un::$v))));
        )*};
    }
    un_builders!(
        Neg, Abs, Sign, Square, Relu, Floor, Ceil, Round, Trunc, Fix, LogicalNot, IsNan, IsInf,
        IsFinite, Sqrt, Rsqrt, Cbrt, Reciprocal, Exp, Expm1, Log, Log2, Log10, Log1p, Sin, Cos,
        Tan, Arcsin, Arccos, Arctan, Sinh, Cosh, Tanh, Arcsinh, Arccosh, Arctanh, Degrees, Radians,
        Sigmoid, Softsign, Softrelu, Erf
    );
    fn scalar(a: &Attrs, op: Bin, reverse: bool) -> Result<Arc<dyn Op>> {
        let name = op.scalar_mxnet_name(reverse);
        let scalar = a.float(name, "scalar", 0.0)?;
        let is_int = a.bool(name, "is_int", false)?;
        Ok(Arc::new(BinaryScalar {
            op,
            scalar,
            reverse,
            is_int,
        }))
    }
    fn generic_scalar(a: &Attrs, reverse_default: bool) -> Result<Arc<dyn Op>> {
        let name = a.str("op", "add");
        let op = Bin::from_name(&name)
            .ok_or_else(|| Error::value("scalar_op", format!("unknown op {name:?}")))?;
        scalar(a, op, a.bool("scalar_op", "reverse", reverse_default)?)
    }
    r.insert("add_scalar", |a| scalar(a, Bin::Add, false));
    // MXNet 2.x's names: _npi_<numpy name>_scalar, reversed _npi_r<numpy name>_scalar.
    macro_rules! npi_scalar_builders {
        ($($v:ident),*) => {$(
            r.insert(concat!("_npi_", stringify!($v), "_scalar"), |a| {
                scalar(a, Bin::from_name(stringify!($v)).expect("a binary op"), false)
            });
            r.insert(concat!("_npi_r", stringify!($v), "_scalar"), |a| {
                scalar(a, Bin::from_name(stringify!($v)).expect("a binary op"), true)
            });
        )*};
    }
    npi_scalar_builders!(
        add,
        subtract,
        multiply,
        true_divide,
        floor_divide,
        mod,
        power,
        maximum,
        minimum,
        arctan2,
        hypot,
        equal,
        not_equal,
        less,
        less_equal,
        greater,
        greater_equal,
        logical_and,
        logical_or,
        logical_xor
    );
    r.insert("multiply_scalar", |a| scalar(a, Bin::Mul, false));
    r.insert("scalar_op", |a| generic_scalar(a, false));
    r.insert("rscalar_op", |a| generic_scalar(a, true));
    macro_rules! scalar_builders {
        ($($v:ident),*) => {$(
            r.insert(Bin::$v.scalar_mxnet_name(false), |a| scalar(a, Bin::$v, false));
            if Bin::$v.scalar_mxnet_name(true) != Bin::$v.scalar_mxnet_name(false) {
                r.insert(Bin::$v.scalar_mxnet_name(true), |a| scalar(a, Bin::$v, true));
            }
        )*};
    }
    scalar_builders!(
        Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Maximum, Minimum, Arctan2, Hypot, Eq, Ne, And, Or,
        Xor
    );
    // Comparisons with a scalar on the left flip into the other comparison with it on the right.
    r.insert("_lesser_scalar", |a| scalar(a, Bin::Lt, false));
    r.insert("_lesser_equal_scalar", |a| scalar(a, Bin::Le, false));
    r.insert("_greater_scalar", |a| scalar(a, Bin::Gt, false));
    r.insert("_greater_equal_scalar", |a| scalar(a, Bin::Ge, false));
    r.insert("_power", |_| Ok(Arc::new(Binary(Bin::Pow))));
    r.insert("elemwise_add", |_| Ok(Arc::new(Binary(Bin::Add))));
    r.insert("elemwise_sub", |_| Ok(Arc::new(Binary(Bin::Sub))));
    r.insert("elemwise_mul", |_| Ok(Arc::new(Binary(Bin::Mul))));
    r.insert("elemwise_div", |_| Ok(Arc::new(Binary(Bin::Div))));
    r.insert("astype", |a| {
        let d = a
            .opt_dtype("astype", "dtype")?
            .ok_or_else(|| Error::value("astype", "dtype is required"))?;
        Ok(Arc::new(Cast(d)))
    });
    r.insert("Cast", |a| {
        let d = a
            .opt_dtype("Cast", "dtype")?
            .ok_or_else(|| Error::value("Cast", "dtype is required"))?;
        Ok(Arc::new(Cast(d)))
    });
    r.insert("copy", |_| Ok(Arc::new(Copy)));
    r.insert("_copy", |_| Ok(Arc::new(Copy)));
    r.insert("where", |_| Ok(Arc::new(Where)));
    r.insert("_npi_where", |_| Ok(Arc::new(Where)));
    r.insert("clip", |a| {
        Ok(Arc::new(Clip {
            min: a.opt_float("clip", "a_min")?,
            max: a.opt_float("clip", "a_max")?,
        }))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_with_out_of_range_int_scalars() {
        let u = Tensor::from_vec(vec![0u8, 5, 255], &[3]).unwrap();
        let gt = u.scalar_op(Bin::Gt, -1.0, false).unwrap();
        assert_eq!(gt.to_vec::<bool>().unwrap(), vec![true, true, true]);
        let b = Tensor::from_vec(vec![true, false], &[2]).unwrap();
        let lt = b.scalar_op(Bin::Lt, 2.0, false).unwrap();
        assert_eq!(lt.to_vec::<bool>().unwrap(), vec![true, true]);
        assert_eq!(lt.dtype(), DType::Bool);
    }
}
