//! MXNet's sequence operators on padded batches: `SequenceMask` (the steps at or beyond each
//! sequence's length set to a value), `SequenceLast` (each sequence's last step) and
//! `SequenceReverse` (each sequence's first `length` steps reversed, the padding left in place).
//!
//! Data has the time axis `axis` (0: `(T, N, ...)`, 1: `(N, T, ...)`; `SequenceReverse` only 0)
//! and the batch axis the other of the first two. With `use_sequence_length` a second input of
//! shape `(N,)`, of any numeric dtype, gives the lengths; float lengths are truncated toward zero
//! as MXNet's kernels do (`static_cast<int>`). Lengths outside `[0, T]` are clamped to it (MXNet
//! reads or writes out of bounds there), so `SequenceLast` of a length of 0 reads step 0.
//! No gradient flows to the lengths.
use super::{apply1, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::layout::Shape;
use crate::{with_dtype, Element, Error, Result, Tensor};
use std::sync::Arc;

fn tuple(s: &[usize]) -> String {
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

/// Where the steps of a `(T, N, rest)` or `(N, T, rest)` array lie.
#[derive(Clone, Copy, Debug)]
struct Geom {
    steps: usize,
    batch: usize,
    rest: usize,
    axis: usize,
}

impl Geom {
    /// The offset of the `rest` elements of step `t` of sequence `b` (row-major data).
    #[inline]
    fn row(&self, t: usize, b: usize) -> usize {
        if self.axis == 0 {
            (t * self.batch + b) * self.rest
        } else {
            (b * self.steps + t) * self.rest
        }
    }
}

/// Checks the axis and the inputs of a sequence op; returns the geometry of `data`.
fn check(op: &str, axis: usize, use_len: bool, inputs: &[Meta]) -> Result<Geom> {
    let want = 1 + use_len as usize;
    if inputs.len() != want {
        return Err(Error::value(
            op,
            format!(
                "expected {want} input{} ({}), got {}",
                if want == 1 { "" } else { "s" },
                if use_len {
                    "data, sequence_length"
                } else {
                    "data; sequence_length is only read with use_sequence_length=True"
                },
                inputs.len()
            ),
        ));
    }
    let d = &inputs[0].shape;
    if d.len() < 2 {
        return Err(Error::shape(
            op,
            format!(
                "the data array must be of rank 2 or greater (time and batch axes first), got shape {}",
                tuple(d)
            ),
        ));
    }
    let (steps, batch) = if axis == 0 {
        (d[0], d[1])
    } else {
        (d[1], d[0])
    };
    if use_len {
        let l = &inputs[1].shape;
        if l.as_slice() != [batch] {
            return Err(Error::shape(
                op,
                format!(
                    "sequence_length of shape {} does not fit data of shape {} with axis={axis}: \
                     it must have shape ({batch},), the batch size (axis {})",
                    tuple(l),
                    tuple(d),
                    1 - axis
                ),
            ));
        }
    }
    Ok(Geom {
        steps,
        batch,
        rest: d[2..].iter().product(),
        axis,
    })
}

fn metas(x: &[Tensor]) -> Vec<Meta> {
    x.iter().map(Meta::of).collect()
}

/// The lengths, truncated toward zero and clamped into `[0, T]` (all `T` without lengths).
fn lengths(op: &str, g: &Geom, lens: Option<&Tensor>) -> Result<Vec<usize>> {
    let Some(l) = lens else {
        return Ok(vec![g.steps; g.batch]);
    };
    let v = l.to_f64_vec().map_err(|e| match e {
        Error::Type { msg, .. } => Error::dtype(op, msg),
        e => e,
    })?;
    // `as i64` truncates toward zero and saturates (NaN gives 0).
    Ok(v.into_iter()
        .map(|x| (x as i64).clamp(0, g.steps as i64) as usize)
        .collect())
}

fn parse_axis(op: &str, a: &Attrs, allowed: &[i64]) -> Result<usize> {
    let axis = a.int(op, "axis", 0)?;
    if !allowed.contains(&axis) {
        return Err(Error::value(
            op,
            if allowed.len() == 1 {
                format!("axis={axis} is not supported: the time axis must be 0 (data of shape (T, N, ...))")
            } else {
                format!(
                    "axis={axis} is not supported: the time axis must be 0 (data (T, N, ...)) or 1 (data (N, T, ...))"
                )
            },
        ));
    }
    Ok(axis as usize)
}

fn seq_attrs(use_len: bool, axis: usize) -> Attrs {
    Attrs::new()
        .with("use_sequence_length", Attr::Bool(use_len))
        .with("axis", Attr::Int(axis as i64))
}

/// `[g]` or `[g, sequence_length]`, as the op's inputs.
fn with_lengths<'a>(g: &'a Tensor, ctx: &'a Ctx, use_len: bool) -> Vec<&'a Tensor> {
    let mut v = vec![g];
    if use_len {
        v.push(ctx.input(1));
    }
    v
}

fn grads(gx: Option<Tensor>, use_len: bool) -> Vec<Option<Tensor>> {
    let mut v = vec![gx];
    if use_len {
        v.push(None);
    }
    v
}

// ---------------------------------------------------------------------------------------------

/// `SequenceMask`: the steps at or beyond each sequence's length set to `value`.
pub struct SequenceMask {
    pub use_len: bool,
    pub value: f64,
    pub axis: usize,
}

impl Op for SequenceMask {
    fn name(&self) -> &'static str {
        "sequence_mask"
    }
    fn mxnet_name(&self) -> &'static str {
        "SequenceMask"
    }
    fn attrs(&self) -> Attrs {
        seq_attrs(self.use_len, self.axis).with("value", Attr::Float(self.value))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        check(self.name(), self.axis, self.use_len, i)?;
        Ok(vec![i[0].clone()])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let op = self.name();
        let g = check(op, self.axis, self.use_len, &metas(x))?;
        let data = &x[0];
        let lens = lengths(op, &g, x.get(1))?;
        let out = with_dtype!(data.dtype(), T, {
            let mut v = data.to_vec::<T>()?;
            let fill = T::from_f64(self.value);
            for (b, &len) in lens.iter().enumerate() {
                for t in len..g.steps {
                    let o = g.row(t, b);
                    v[o..o + g.rest].fill(fill);
                }
            }
            Tensor::from_vec(v, data.shape())?
        });
        Ok(vec![out.to_device(data.device())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        if !ctx.input(0).dtype().is_float() || !ctx.needs_grad(0) {
            return Ok(grads(None, self.use_len));
        }
        if !self.use_len {
            return Ok(grads(Some(g), false));
        }
        let op = SequenceMask {
            use_len: true,
            value: 0.0,
            axis: self.axis,
        };
        let gx = apply1(Arc::new(op), &with_lengths(&g, ctx, true))?;
        Ok(grads(Some(gx), true))
    }
}

/// `SequenceReverse`: the first `length` steps of each sequence reversed, the rest in place.
/// Its own gradient (it is an involution).
pub struct SequenceReverse {
    pub use_len: bool,
    pub axis: usize,
}

impl Op for SequenceReverse {
    fn name(&self) -> &'static str {
        "sequence_reverse"
    }
    fn mxnet_name(&self) -> &'static str {
        "SequenceReverse"
    }
    fn attrs(&self) -> Attrs {
        seq_attrs(self.use_len, self.axis)
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        check(self.name(), self.axis, self.use_len, i)?;
        Ok(vec![i[0].clone()])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let op = self.name();
        let g = check(op, self.axis, self.use_len, &metas(x))?;
        let data = &x[0];
        let lens = lengths(op, &g, x.get(1))?;
        let out = with_dtype!(data.dtype(), T, {
            // One copy, reversed in place: rows t and len-1-t of each sequence swap.
            let mut o = data.to_vec::<T>()?;
            for (b, &len) in lens.iter().enumerate() {
                for t in 0..len / 2 {
                    let (lo, hi) = (g.row(t, b), g.row(len - 1 - t, b));
                    for i in 0..g.rest {
                        o.swap(lo + i, hi + i);
                    }
                }
            }
            Tensor::from_vec(o, data.shape())?
        });
        Ok(vec![out.to_device(data.device())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        if !ctx.input(0).dtype().is_float() || !ctx.needs_grad(0) {
            return Ok(grads(None, self.use_len));
        }
        let op = SequenceReverse {
            use_len: self.use_len,
            axis: self.axis,
        };
        let gx = apply1(Arc::new(op), &with_lengths(&g, ctx, self.use_len))?;
        Ok(grads(Some(gx), self.use_len))
    }
}

/// The step each sequence's last element is read from.
fn last_steps(op: &str, g: &Geom, lens: Option<&Tensor>, shape: &[usize]) -> Result<Vec<usize>> {
    if g.steps == 0 {
        return Err(Error::shape(
            op,
            format!(
                "data of shape {} has no steps along the time axis {}: there is no last step",
                tuple(shape),
                g.axis
            ),
        ));
    }
    Ok(lengths(op, g, lens)?
        .into_iter()
        .map(|l| l.max(1) - 1)
        .collect())
}

/// `SequenceLast`: step `length - 1` of each sequence; output `(N, ...)`.
pub struct SequenceLast {
    pub use_len: bool,
    pub axis: usize,
}

impl SequenceLast {
    fn out_shape(&self, g: &Geom, data: &[usize]) -> Shape {
        let mut s = vec![g.batch];
        s.extend_from_slice(&data[2..]);
        s
    }
}

impl Op for SequenceLast {
    fn name(&self) -> &'static str {
        "sequence_last"
    }
    fn mxnet_name(&self) -> &'static str {
        "SequenceLast"
    }
    fn attrs(&self) -> Attrs {
        seq_attrs(self.use_len, self.axis)
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let g = check(self.name(), self.axis, self.use_len, i)?;
        Ok(vec![Meta::new(self.out_shape(&g, &i[0].shape), i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let op = self.name();
        let g = check(op, self.axis, self.use_len, &metas(x))?;
        let data = &x[0];
        let shape = self.out_shape(&g, data.shape());
        if g.batch == 0 {
            return Ok(vec![Tensor::zeros(&shape, data.dtype(), data.device())?]);
        }
        let steps = last_steps(op, &g, x.get(1), data.shape())?;
        let out = with_dtype!(data.dtype(), T, {
            let v = data.to_vec::<T>()?;
            let mut o = Vec::with_capacity(g.batch * g.rest);
            for (b, &t) in steps.iter().enumerate() {
                let src = g.row(t, b);
                o.extend_from_slice(&v[src..src + g.rest]);
            }
            Tensor::from_vec(o, &shape)?
        });
        Ok(vec![out.to_device(data.device())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let x = ctx.input(0);
        if !x.dtype().is_float() || !ctx.needs_grad(0) {
            return Ok(grads(None, self.use_len));
        }
        let op = SequenceLastGrad {
            use_len: self.use_len,
            axis: self.axis,
            shape: x.shape().clone(),
        };
        let gx = apply1(Arc::new(op), &with_lengths(&g, ctx, self.use_len))?;
        Ok(grads(Some(gx), self.use_len))
    }
}

/// The gradient of `SequenceLast`: `g` (N, ...) written into zeros of the data's shape at each
/// sequence's last step. Inputs `[g]` or `[g, sequence_length]`.
pub struct SequenceLastGrad {
    pub use_len: bool,
    pub axis: usize,
    pub shape: Shape,
}

impl SequenceLastGrad {
    fn geom(&self, i: &[Meta]) -> Result<Geom> {
        let op = self.name();
        let mut metas = i.to_vec();
        let gshape = metas[0].shape.clone();
        metas[0].shape = self.shape.clone();
        let g = check(op, self.axis, self.use_len, &metas)?;
        let want = SequenceLast {
            use_len: self.use_len,
            axis: self.axis,
        }
        .out_shape(&g, &self.shape);
        if gshape != want {
            return Err(Error::shapes(
                op,
                &[&gshape, &want],
                "the gradient must have the shape of sequence_last's output",
            ));
        }
        Ok(g)
    }
}

impl Op for SequenceLastGrad {
    fn name(&self) -> &'static str {
        "sequence_last_grad"
    }
    fn attrs(&self) -> Attrs {
        let shape: Vec<i64> = self.shape.iter().map(|&d| d as i64).collect();
        seq_attrs(self.use_len, self.axis).with("shape", Attr::Ints(shape))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        self.geom(i)?;
        Ok(vec![Meta::new(self.shape.clone(), i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let op = self.name();
        let g = self.geom(&metas(x))?;
        let gt = &x[0];
        if g.batch == 0 {
            return Ok(vec![Tensor::zeros(&self.shape, gt.dtype(), gt.device())?]);
        }
        let steps = last_steps(op, &g, x.get(1), &self.shape)?;
        let out = with_dtype!(gt.dtype(), T, {
            let v = gt.to_vec::<T>()?;
            let mut o = vec![T::zero(); self.shape.iter().product()];
            for (b, &t) in steps.iter().enumerate() {
                let dst = g.row(t, b);
                o[dst..dst + g.rest].copy_from_slice(&v[b * g.rest..(b + 1) * g.rest]);
            }
            Tensor::from_vec(o, &self.shape)?
        });
        Ok(vec![out.to_device(gt.device())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let gg = g[0].clone().expect("single output");
        let op = SequenceLast {
            use_len: self.use_len,
            axis: self.axis,
        };
        let gx = apply1(Arc::new(op), &with_lengths(&gg, ctx, self.use_len))?;
        Ok(grads(Some(gx), self.use_len))
    }
}

// ---------------------------------------------------------------------------------------------

impl Tensor {
    /// `SequenceMask` (recorded); `lengths` switches `use_sequence_length` on.
    pub fn sequence_mask(
        &self,
        lengths: Option<&Tensor>,
        value: f64,
        axis: usize,
    ) -> Result<Tensor> {
        let op = SequenceMask {
            use_len: lengths.is_some(),
            value,
            axis,
        };
        let mut ins = vec![self];
        ins.extend(lengths);
        apply1(Arc::new(op), &ins)
    }
    /// `SequenceLast` (recorded).
    pub fn sequence_last(&self, lengths: Option<&Tensor>, axis: usize) -> Result<Tensor> {
        let op = SequenceLast {
            use_len: lengths.is_some(),
            axis,
        };
        let mut ins = vec![self];
        ins.extend(lengths);
        apply1(Arc::new(op), &ins)
    }
    /// `SequenceReverse` (recorded; time axis 0).
    pub fn sequence_reverse(&self, lengths: Option<&Tensor>) -> Result<Tensor> {
        let op = SequenceReverse {
            use_len: lengths.is_some(),
            axis: 0,
        };
        let mut ins = vec![self];
        ins.extend(lengths);
        apply1(Arc::new(op), &ins)
    }
}

pub fn register(r: &mut Registry) {
    fn mask(a: &Attrs) -> Result<Arc<dyn Op>> {
        let op = "sequence_mask";
        Ok(Arc::new(SequenceMask {
            use_len: a.bool(op, "use_sequence_length", false)?,
            value: a.float(op, "value", 0.0)?,
            axis: parse_axis(op, a, &[0, 1])?,
        }))
    }
    fn last(a: &Attrs) -> Result<Arc<dyn Op>> {
        let op = "sequence_last";
        Ok(Arc::new(SequenceLast {
            use_len: a.bool(op, "use_sequence_length", false)?,
            axis: parse_axis(op, a, &[0, 1])?,
        }))
    }
    fn reverse(a: &Attrs) -> Result<Arc<dyn Op>> {
        let op = "sequence_reverse";
        Ok(Arc::new(SequenceReverse {
            use_len: a.bool(op, "use_sequence_length", false)?,
            axis: parse_axis(op, a, &[0])?,
        }))
    }
    fn last_grad(a: &Attrs) -> Result<Arc<dyn Op>> {
        let op = "sequence_last_grad";
        let shape = a.ints(op, "shape", &[])?;
        if shape.iter().any(|&d| d < 0) {
            return Err(Error::value(
                op,
                format!("shape {shape:?} has a negative size"),
            ));
        }
        Ok(Arc::new(SequenceLastGrad {
            use_len: a.bool(op, "use_sequence_length", false)?,
            axis: parse_axis(op, a, &[0, 1])?,
            shape: shape.into_iter().map(|d| d as usize).collect(),
        }))
    }
    for n in [
        "sequence_mask",
        "SequenceMask",
        "_npx_sequence_mask",
        "_npx_SequenceMask",
    ] {
        r.insert(n, mask);
    }
    for n in [
        "sequence_last",
        "SequenceLast",
        "_npx_sequence_last",
        "_npx_SequenceLast",
    ] {
        r.insert(n, last);
    }
    for n in [
        "sequence_reverse",
        "SequenceReverse",
        "_npx_sequence_reverse",
        "_npx_SequenceReverse",
    ] {
        r.insert(n, reverse);
    }
    r.insert("sequence_last_grad", last_grad);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: Vec<f32>, s: &[usize]) -> Tensor {
        Tensor::from_vec(v, s).unwrap()
    }

    #[test]
    fn mask_last_reverse_follow_the_lengths() {
        // (T=3, N=2, 1): step t of sequence b holds 10*t + b.
        let x = t(vec![0., 1., 10., 11., 20., 21.], &[3, 2, 1]);
        let len = Tensor::from_vec(vec![1i32, 3], &[2]).unwrap();
        let m = x.sequence_mask(Some(&len), -1.0, 0).unwrap();
        assert_eq!(m.to_vec::<f32>().unwrap(), vec![0., 1., -1., 11., -1., 21.]);
        let l = x.sequence_last(Some(&len), 0).unwrap();
        assert_eq!(l.shape(), &vec![2, 1]);
        assert_eq!(l.to_vec::<f32>().unwrap(), vec![0., 21.]);
        let r = x.sequence_reverse(Some(&len)).unwrap();
        assert_eq!(r.to_vec::<f32>().unwrap(), vec![0., 21., 10., 11., 20., 1.]);
        // Batch-major: (N=2, T=3).
        let y = t(vec![0., 10., 20., 1., 11., 21.], &[2, 3]);
        let m = y.sequence_mask(Some(&len), 0.0, 1).unwrap();
        assert_eq!(m.to_vec::<f32>().unwrap(), vec![0., 0., 0., 1., 11., 21.]);
        let l = y.sequence_last(None, 1).unwrap();
        assert_eq!(l.to_vec::<f32>().unwrap(), vec![20., 21.]);
    }

    #[test]
    fn bad_lengths_and_axes_are_errors() {
        let x = t(vec![0.; 6], &[3, 2]);
        let len = Tensor::from_vec(vec![1i64, 2, 3], &[3]).unwrap();
        assert!(matches!(
            x.sequence_mask(Some(&len), 0.0, 0),
            Err(Error::Shape { .. })
        ));
        assert!(x.sequence_mask(Some(&len), 0.0, 1).is_ok());
        assert!(matches!(
            build("SequenceReverse", &Attrs::new().with("axis", Attr::Int(1))),
            Err(Error::Value { .. })
        ));
        let v = t(vec![0.; 3], &[3]);
        assert!(matches!(v.sequence_last(None, 0), Err(Error::Shape { .. })));
    }

    use super::super::build;
}
