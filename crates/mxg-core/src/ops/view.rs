//! Ops whose results are views of their input (no copy): reshape, transpose, broadcast_to,
//! expand_dims, squeeze, flip and basic indexing (ints, slices, None, Ellipsis).
use super::{apply1, unbroadcast, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::layout::{norm_axis, numel, Layout};
use crate::{Error, Result, Tensor};
use std::sync::Arc;

/// One item of a basic index.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexItem {
    Int(i64),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    NewAxis,
    Ellipsis,
}

/// How a reshape's target is spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReshapeMode {
    /// NumPy: one -1 may be inferred.
    Numpy,
    /// `npx.reshape` (MXNet 2.x codes -1..-6).
    Npx,
    /// `nd.reshape` / `Reshape` (MXNet 1.x codes 0, -1..-4).
    Legacy,
}

#[derive(Clone, Debug)]
pub enum View {
    Reshape {
        spec: Vec<i64>,
        mode: ReshapeMode,
        reverse: bool,
    },
    Transpose(Option<Vec<i64>>),
    BroadcastTo(Vec<usize>),
    ExpandDims(i64),
    Squeeze(Option<Vec<i64>>),
    Flip(Vec<i64>),
    Index(Vec<IndexItem>),
}

fn infer_minus_one(op: &str, input: &[usize], mut out: Vec<i64>) -> Result<Vec<usize>> {
    let total = numel(input);
    let unknown: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(_, &d)| d == -1)
        .map(|(i, _)| i)
        .collect();
    if unknown.len() > 1 {
        return Err(Error::value(
            op,
            "can only specify one unknown dimension (-1)",
        ));
    }
    if let Some(&d) = out.iter().find(|&&d| d < -1) {
        return Err(Error::value(
            op,
            format!("invalid dimension {d} in the target shape"),
        ));
    }
    let known: usize = out
        .iter()
        .filter(|&&d| d >= 0)
        .map(|&d| d as usize)
        .product();
    if let Some(&u) = unknown.first() {
        if known == 0 || total % known != 0 {
            return Err(Error::value(
                op,
                format!("cannot reshape array of shape {input:?} into shape {out:?}"),
            ));
        }
        out[u] = (total / known) as i64;
    }
    let shape: Vec<usize> = out.iter().map(|&d| d as usize).collect();
    if numel(&shape) != total {
        return Err(Error::value(
            op,
            format!("cannot reshape array of size {total} (shape {input:?}) into shape {shape:?}"),
        ));
    }
    Ok(shape)
}

/// The target shape of a reshape, with MXNet's special codes resolved.
pub fn reshape_target(
    op: &str,
    input: &[usize],
    spec: &[i64],
    mode: ReshapeMode,
    reverse: bool,
) -> Result<Vec<usize>> {
    if reverse {
        let rin: Vec<usize> = input.iter().rev().cloned().collect();
        let rspec: Vec<i64> = spec.iter().rev().cloned().collect();
        // -4/-6 take their two following values in order: reversing the list keeps them after.
        let mut s = reshape_target(op, &rin, &rspec, mode, false)?;
        s.reverse();
        return Ok(s);
    }
    let bad = |m: String| Error::value(op, format!("{m} (input shape {input:?}, target {spec:?})"));
    let mut out: Vec<i64> = Vec::new();
    let mut i = 0; // input dim
    let mut k = 0; // spec position
    match mode {
        ReshapeMode::Numpy => return infer_minus_one(op, input, spec.to_vec()),
        ReshapeMode::Legacy => {
            while k < spec.len() {
                match spec[k] {
                    0 => {
                        out.push(
                            *input.get(i).ok_or_else(|| {
                                bad("0 copies a dimension past the input's".into())
                            })? as i64,
                        );
                        i += 1;
                    }
                    -1 => {
                        out.push(-1);
                        i += 1;
                    }
                    -2 => {
                        out.extend(input[i.min(input.len())..].iter().map(|&d| d as i64));
                        i = input.len();
                    }
                    -3 => {
                        if i + 1 >= input.len() {
                            return Err(bad("-3 needs two input dimensions".into()));
                        }
                        out.push((input[i] * input[i + 1]) as i64);
                        i += 2;
                    }
                    -4 => {
                        let (a, b) = (
                            *spec
                                .get(k + 1)
                                .ok_or_else(|| bad("-4 needs two values".into()))?,
                            *spec
                                .get(k + 2)
                                .ok_or_else(|| bad("-4 needs two values".into()))?,
                        );
                        let d = *input
                            .get(i)
                            .ok_or_else(|| bad("-4 splits a dimension past the input's".into()))?
                            as i64;
                        let (a, b) = if a == -1 {
                            (d / b, b)
                        } else if b == -1 {
                            (a, d / a)
                        } else {
                            (a, b)
                        };
                        if a * b != d {
                            return Err(bad(format!("-4 cannot split {d} into {a} x {b}")));
                        }
                        out.extend([a, b]);
                        i += 1;
                        k += 2;
                    }
                    d if d > 0 => {
                        out.push(d);
                        i += 1;
                    }
                    d => return Err(bad(format!("invalid code {d}"))),
                }
                k += 1;
            }
        }
        ReshapeMode::Npx => {
            while k < spec.len() {
                match spec[k] {
                    -1 => {
                        out.push(-1);
                        i += 1;
                    }
                    -2 => {
                        out.push(
                            *input.get(i).ok_or_else(|| {
                                bad("-2 copies a dimension past the input's".into())
                            })? as i64,
                        );
                        i += 1;
                    }
                    -3 => {
                        if input.get(i) != Some(&1) {
                            return Err(bad("-3 skips a dimension only when it is 1".into()));
                        }
                        i += 1;
                    }
                    -4 => {
                        out.extend(input[i.min(input.len())..].iter().map(|&d| d as i64));
                        i = input.len();
                    }
                    -5 => {
                        if i + 1 >= input.len() {
                            return Err(bad("-5 needs two input dimensions".into()));
                        }
                        out.push((input[i] * input[i + 1]) as i64);
                        i += 2;
                    }
                    -6 => {
                        let (a, b) = (
                            *spec
                                .get(k + 1)
                                .ok_or_else(|| bad("-6 needs two values".into()))?,
                            *spec
                                .get(k + 2)
                                .ok_or_else(|| bad("-6 needs two values".into()))?,
                        );
                        let d = *input
                            .get(i)
                            .ok_or_else(|| bad("-6 splits a dimension past the input's".into()))?
                            as i64;
                        let (a, b) = if a == -1 {
                            (d / b, b)
                        } else if b == -1 {
                            (a, d / a)
                        } else {
                            (a, b)
                        };
                        if a * b != d {
                            return Err(bad(format!("-6 cannot split {d} into {a} x {b}")));
                        }
                        out.extend([a, b]);
                        i += 1;
                        k += 2;
                    }
                    d if d >= 0 => {
                        out.push(d);
                        i += 1;
                    }
                    d => return Err(bad(format!("invalid code {d}"))),
                }
                k += 1;
            }
        }
    }
    infer_minus_one(op, input, out)
}

/// Python's `slice.indices` followed by the length: (start, step, len).
fn slice_indices(
    op: &str,
    n: usize,
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
) -> Result<(usize, isize, usize)> {
    let n = n as i64;
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(Error::value(op, "slice step cannot be zero"));
    }
    let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
    let norm = |v: i64| if v < 0 { v + n } else { v };
    let (s, e) = if step > 0 {
        (
            start.map_or(0, |v| clamp(norm(v), 0, n)),
            stop.map_or(n, |v| clamp(norm(v), 0, n)),
        )
    } else {
        (
            start.map_or(n - 1, |v| clamp(norm(v), -1, n - 1)),
            stop.map_or(-1, |v| clamp(norm(v), -1, n - 1)),
        )
    };
    let len = if step > 0 {
        (e - s + step - 1).div_euclid(step)
    } else {
        (s - e + (-step) - 1).div_euclid(-step)
    };
    let len = len.max(0) as usize;
    Ok((if len == 0 { 0 } else { s as usize }, step as isize, len))
}

/// The view of `l` that a basic index selects.
pub fn index_layout(l: &Layout, items: &[IndexItem]) -> Result<Layout> {
    let op = "index";
    let consumed = items
        .iter()
        .filter(|i| matches!(i, IndexItem::Int(_) | IndexItem::Slice(..)))
        .count();
    let ellipses = items
        .iter()
        .filter(|i| matches!(i, IndexItem::Ellipsis))
        .count();
    if ellipses > 1 {
        return Err(Error::index(
            op,
            "an index can only have a single ellipsis ('...')",
        ));
    }
    if consumed > l.ndim() {
        return Err(Error::index(
            op,
            format!(
                "too many indices for array: array is {}-dimensional, but {consumed} were indexed",
                l.ndim()
            ),
        ));
    }
    let mut out = l.clone();
    let mut pos = 0; // position in `out`
    let mut dim = 0; // input dimension
    for item in items {
        match item {
            IndexItem::Int(i) => {
                let n = l.shape[dim] as i64;
                let j = if *i < 0 { i + n } else { *i };
                if j < 0 || j >= n {
                    return Err(Error::index(
                        op,
                        format!("index {i} is out of bounds for axis {dim} with size {n}"),
                    ));
                }
                out = out.index_axis(pos, j as usize);
                dim += 1;
            }
            IndexItem::Slice(a, b, c) => {
                let (start, step, len) = slice_indices(op, l.shape[dim], *a, *b, *c)?;
                out = out.slice_axis(pos, start, step, len);
                pos += 1;
                dim += 1;
            }
            IndexItem::NewAxis => {
                out = out.insert_axis(pos);
                pos += 1;
            }
            IndexItem::Ellipsis => {
                let skip = l.ndim() - consumed;
                pos += skip;
                dim += skip;
            }
        }
    }
    Ok(out)
}

impl View {
    fn name(&self) -> &'static str {
        match self {
            View::Reshape {
                mode: ReshapeMode::Numpy,
                ..
            } => "reshape",
            View::Reshape {
                mode: ReshapeMode::Npx,
                ..
            } => "npx_reshape",
            View::Reshape {
                mode: ReshapeMode::Legacy,
                ..
            } => "Reshape",
            View::Transpose(_) => "transpose",
            View::BroadcastTo(_) => "broadcast_to",
            View::ExpandDims(_) => "expand_dims",
            View::Squeeze(_) => "squeeze",
            View::Flip(_) => "flip",
            View::Index(_) => "basic_index",
        }
    }

    /// The view's layout over an input laid out as `l`; `None` when the input must be copied
    /// to contiguous memory first (a reshape of strided data).
    fn layout(&self, l: &Layout) -> Result<Option<Layout>> {
        let op = self.name();
        let nd = l.ndim();
        Ok(Some(match self {
            View::Reshape {
                spec,
                mode,
                reverse,
            } => {
                let shape = reshape_target(op, &l.shape, spec, *mode, *reverse)?;
                return Ok(l.reshape(&shape));
            }
            View::Transpose(axes) => {
                let perm: Vec<usize> = match axes {
                    None => (0..nd).rev().collect(),
                    Some(a) if a.is_empty() => (0..nd).rev().collect(),
                    Some(a) => a
                        .iter()
                        .map(|&x| norm_axis(op, x as isize, nd))
                        .collect::<Result<_>>()?,
                };
                l.permute(op, &perm)?
            }
            View::BroadcastTo(shape) => l.broadcast_to(op, shape)?,
            View::ExpandDims(axis) => l.insert_axis(norm_axis(op, *axis as isize, nd + 1)?),
            View::Squeeze(axes) => {
                let drop: Vec<usize> = match axes {
                    None => (0..nd).filter(|&i| l.shape[i] == 1).collect(),
                    Some(a) => {
                        let mut v = Vec::new();
                        for &x in a {
                            let i = norm_axis(op, x as isize, nd)?;
                            if l.shape[i] != 1 {
                                return Err(Error::value(op, format!("cannot select an axis to squeeze out which has size {} (axis {x}, shape {:?})", l.shape[i], l.shape)));
                            }
                            v.push(i);
                        }
                        v
                    }
                };
                let mut out = l.clone();
                for &i in drop.iter().rev() {
                    out.shape.remove(i);
                    out.strides.remove(i);
                }
                out
            }
            View::Flip(axes) => {
                let mut out = l.clone();
                let axes: Vec<usize> = if axes.is_empty() {
                    (0..nd).collect()
                } else {
                    axes.iter()
                        .map(|&a| norm_axis(op, a as isize, nd))
                        .collect::<Result<_>>()?
                };
                for a in axes {
                    let n = out.shape[a];
                    out = out.slice_axis(a, n.saturating_sub(1), -1, n);
                }
                out
            }
            View::Index(items) => index_layout(l, items)?,
        }))
    }
}

pub struct ViewOp(pub View);

/// An `npx.reshape` spec in MXNet 1.x `Reshape` codes (-2 copy -> 0, -4 rest -> -2, -5 merge ->
/// -3, -6 split -> -4); None when it skips a size-1 axis (-3), which 1.x cannot say.
fn npx_as_legacy(spec: &[i64]) -> Option<Vec<i64>> {
    spec.iter()
        .map(|&d| match d {
            -2 => Some(0),
            -4 => Some(-2),
            -5 => Some(-3),
            -6 => Some(-4),
            -3 => None,
            d => Some(d),
        })
        .collect()
}

/// MXNet's `slice(begin, end, step)` spelling of an index of slices only (None where open).
fn slice_attrs(items: &[IndexItem]) -> Attrs {
    let tuple = |f: &dyn Fn(&IndexItem) -> Option<i64>| {
        let v: Vec<String> = items
            .iter()
            .map(|i| f(i).map_or("None".into(), |x| x.to_string()))
            .collect();
        Attr::Str(format!(
            "({}{})",
            v.join(", "),
            if v.len() == 1 { "," } else { "" }
        ))
    };
    let part = |k: usize| {
        move |i: &IndexItem| match i {
            IndexItem::Slice(a, b, c) => [*a, *b, *c][k],
            _ => None,
        }
    };
    Attrs::new()
        .with("begin", tuple(&part(0)))
        .with("end", tuple(&part(1)))
        .with("step", tuple(&part(2)))
}

impl Op for ViewOp {
    fn export_check(&self) -> Result<()> {
        match &self.0 {
            View::Index(items) if !items.iter().all(|i| matches!(i, IndexItem::Slice(..))) => {
                Err(Error::Unsupported(
                    "indexing with integers, None or ... has no single MXNet 1.x operator: in a \
                     Block to export, index with slices (x[:, 1:2]) and reshape"
                        .into(),
                ))
            }
            _ => Ok(()),
        }
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn mxnet_name(&self) -> &'static str {
        match &self.0 {
            View::Reshape {
                spec,
                mode: ReshapeMode::Npx,
                ..
            } if npx_as_legacy(spec).is_none() => "_npx_reshape",
            View::Reshape { .. } => "Reshape",
            View::Index(_) => "slice",
            v => v.name(),
        }
    }
    fn attrs(&self) -> Attrs {
        let ints = |v: &[i64]| Attr::Ints(v.to_vec());
        match &self.0 {
            View::Reshape {
                spec,
                mode,
                reverse,
            } => {
                let (key, spec) = match (mode, npx_as_legacy(spec)) {
                    (ReshapeMode::Npx, Some(legacy)) => ("shape", legacy),
                    (ReshapeMode::Npx, None) => ("newshape", spec.clone()),
                    _ => ("shape", spec.clone()),
                };
                Attrs::new()
                    .with(key, ints(&spec))
                    .with("reverse", Attr::Bool(*reverse))
            }
            View::Transpose(a) => {
                Attrs::new().with("axes", a.as_ref().map_or(Attr::Ints(vec![]), |a| ints(a)))
            }
            View::BroadcastTo(s) => {
                Attrs::new().with("shape", Attr::Ints(s.iter().map(|&d| d as i64).collect()))
            }
            View::ExpandDims(a) => Attrs::new().with("axis", Attr::Int(*a)),
            View::Squeeze(a) => {
                Attrs::new().with("axis", a.as_ref().map_or(Attr::None, |a| ints(a)))
            }
            View::Flip(a) => Attrs::new().with("axis", ints(a)),
            View::Index(items) => slice_attrs(items),
        }
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let l = Layout::contiguous(&i[0].shape);
        let shape = match self.0.layout(&l)? {
            Some(v) => v.shape,
            None => unreachable!("a contiguous input always has a view"),
        };
        Ok(vec![Meta::new(shape, i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let x = &x[0];
        Ok(vec![match self.0.layout(x.layout())? {
            Some(l) => x.with_layout(l),
            None => {
                let c = x.contiguous()?;
                let l = self
                    .0
                    .layout(c.layout())?
                    .expect("a contiguous input always has a view");
                c.with_layout(l)
            }
        }])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let x = ctx.input(0);
        let gx = match &self.0 {
            View::Reshape { .. } | View::ExpandDims(_) | View::Squeeze(_) => {
                g.reshape(x.shape())?
            }
            View::Transpose(axes) => {
                let nd = x.ndim();
                let perm: Vec<usize> = match axes {
                    Some(a) if !a.is_empty() => a
                        .iter()
                        .map(|&v| norm_axis("transpose", v as isize, nd))
                        .collect::<Result<_>>()?,
                    _ => (0..nd).rev().collect(),
                };
                let mut inv = vec![0i64; nd];
                for (i, &p) in perm.iter().enumerate() {
                    inv[p] = i as i64;
                }
                g.transpose(Some(inv))?
            }
            View::BroadcastTo(_) => unbroadcast(g, x.shape())?,
            View::Flip(a) => g.flip(a.clone())?,
            View::Index(items) => apply1(
                Arc::new(IndexGrad {
                    items: items.clone(),
                    shape: x.shape().clone(),
                }),
                &[&g],
            )?,
        };
        Ok(vec![Some(gx)])
    }
}

/// The gradient of a basic index: `g` written into zeros of the input's shape.
pub struct IndexGrad {
    items: Vec<IndexItem>,
    shape: Vec<usize>,
}

impl Op for IndexGrad {
    fn name(&self) -> &'static str {
        "basic_index_grad"
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(self.shape.clone(), i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let z = Tensor::zeros(&self.shape, x[0].dtype(), x[0].device())?;
        let view = z.with_layout(index_layout(z.layout(), &self.items)?);
        view.write_from(&x[0])?;
        Ok(vec![z])
    }
    fn backward(&self, _ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(
            g[0].clone()
                .expect("single output")
                .index(self.items.clone())?,
        )])
    }
}

fn view(x: &Tensor, v: View) -> Result<Tensor> {
    apply1(Arc::new(ViewOp(v)), &[x])
}

impl Tensor {
    /// NumPy reshape to an exact shape (no -1).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if shape == self.shape().as_slice() {
            return Ok(self.clone());
        }
        view(
            self,
            View::Reshape {
                spec: shape.iter().map(|&d| d as i64).collect(),
                mode: ReshapeMode::Numpy,
                reverse: false,
            },
        )
    }
    pub fn reshape_spec(&self, spec: Vec<i64>, mode: ReshapeMode, reverse: bool) -> Result<Tensor> {
        view(
            self,
            View::Reshape {
                spec,
                mode,
                reverse,
            },
        )
    }
    pub fn transpose(&self, axes: Option<Vec<i64>>) -> Result<Tensor> {
        view(self, View::Transpose(axes))
    }
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        if shape == self.shape().as_slice() {
            return Ok(self.clone());
        }
        view(self, View::BroadcastTo(shape.to_vec()))
    }
    pub fn expand_dims(&self, axis: i64) -> Result<Tensor> {
        view(self, View::ExpandDims(axis))
    }
    pub fn squeeze(&self, axes: Option<Vec<i64>>) -> Result<Tensor> {
        view(self, View::Squeeze(axes))
    }
    pub fn flip(&self, axes: Vec<i64>) -> Result<Tensor> {
        view(self, View::Flip(axes))
    }
    pub fn index(&self, items: Vec<IndexItem>) -> Result<Tensor> {
        view(self, View::Index(items))
    }
}

pub fn register(r: &mut Registry) {
    fn reshape(a: &Attrs, mode: ReshapeMode, op: &str) -> Result<Arc<dyn Op>> {
        let spec = a
            .opt_ints(op, "newshape")?
            .or(a.opt_ints(op, "shape")?)
            .ok_or_else(|| Error::value(op, "shape is required"))?;
        Ok(Arc::new(ViewOp(View::Reshape {
            spec,
            mode,
            reverse: a.bool(op, "reverse", false)?,
        })))
    }
    r.insert("reshape", |a| reshape(a, ReshapeMode::Numpy, "reshape"));
    r.insert("_np_reshape", |a| reshape(a, ReshapeMode::Numpy, "reshape"));
    r.insert("npx_reshape", |a| {
        reshape(a, ReshapeMode::Npx, "npx.reshape")
    });
    r.insert("_npx_reshape", |a| {
        reshape(a, ReshapeMode::Npx, "npx.reshape")
    });
    r.insert("Reshape", |a| reshape(a, ReshapeMode::Legacy, "Reshape"));
    r.insert("slice", |a| {
        let op = "slice";
        let begin = a.ints(op, "begin", &[])?;
        let end = a.ints(op, "end", &[])?;
        let step = a.ints(op, "step", &[])?;
        if end.len() != begin.len() || (!step.is_empty() && step.len() != begin.len()) {
            return Err(Error::value(
                op,
                format!("begin {begin:?}, end {end:?} and step {step:?} differ in length"),
            ));
        }
        // opt_ints reads "None" as i64::MIN.
        let some = |v: Option<&i64>| v.copied().filter(|&x| x != i64::MIN);
        let items = (0..begin.len())
            .map(|k| IndexItem::Slice(some(begin.get(k)), some(end.get(k)), some(step.get(k))))
            .collect();
        Ok(Arc::new(ViewOp(View::Index(items))))
    });
    // MXNet's Flatten: (d1, d2 * ... * dk), written back as Reshape(0, -1).
    for n in ["Flatten", "flatten", "_npx_batch_flatten"] {
        r.insert(n, |_| {
            Ok(Arc::new(ViewOp(View::Reshape {
                spec: vec![0, -1],
                mode: ReshapeMode::Legacy,
                reverse: false,
            })))
        });
    }
    r.insert("transpose", |a| {
        Ok(Arc::new(ViewOp(View::Transpose(
            a.opt_ints("transpose", "axes")?,
        ))))
    });
    r.insert("_np_transpose", |a| {
        Ok(Arc::new(ViewOp(View::Transpose(
            a.opt_ints("transpose", "axes")?,
        ))))
    });
    r.insert("broadcast_to", |a| {
        let s = a.ints("broadcast_to", "shape", &[])?;
        Ok(Arc::new(ViewOp(View::BroadcastTo(
            s.iter().map(|&d| d.max(0) as usize).collect(),
        ))))
    });
    r.insert("expand_dims", |a| {
        Ok(Arc::new(ViewOp(View::ExpandDims(
            a.req_int("expand_dims", "axis")?,
        ))))
    });
    r.insert("squeeze", |a| {
        Ok(Arc::new(ViewOp(View::Squeeze(
            a.opt_ints("squeeze", "axis")?,
        ))))
    });
    r.insert("_np_squeeze", |a| {
        Ok(Arc::new(ViewOp(View::Squeeze(
            a.opt_ints("squeeze", "axis")?,
        ))))
    });
    r.insert("flip", |a| {
        Ok(Arc::new(ViewOp(View::Flip(a.ints("flip", "axis", &[])?))))
    });
    r.insert("_npi_flip", |a| {
        Ok(Arc::new(ViewOp(View::Flip(a.ints("flip", "axis", &[])?))))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn special_reshape_codes() {
        let t = |s: &[usize], spec: &[i64], m| reshape_target("r", s, spec, m, false).unwrap();
        assert_eq!(t(&[2, 3, 4], &[-1], ReshapeMode::Numpy), vec![24]);
        assert_eq!(t(&[2, 3, 4], &[0, -1], ReshapeMode::Legacy), vec![2, 12]);
        assert_eq!(t(&[2, 3, 4], &[-3, 4], ReshapeMode::Legacy), vec![6, 4]);
        assert_eq!(
            t(&[2, 3, 4], &[-4, 1, 2, -2], ReshapeMode::Legacy),
            vec![1, 2, 3, 4]
        );
        assert_eq!(t(&[2, 3, 4], &[-2, -1], ReshapeMode::Npx), vec![2, 12]);
        assert_eq!(t(&[2, 1, 4], &[-2, -3, -2], ReshapeMode::Npx), vec![2, 4]);
        assert_eq!(t(&[2, 3, 4], &[-5, -2], ReshapeMode::Npx), vec![6, 4]);
        assert_eq!(
            t(&[2, 3, 4], &[-6, 1, 2, -4], ReshapeMode::Npx),
            vec![1, 2, 3, 4]
        );
        assert_eq!(t(&[2, 3, 4], &[-4], ReshapeMode::Npx), vec![2, 3, 4]);
        assert_eq!(
            reshape_target("r", &[10, 5, 4], &[-1, 0], ReshapeMode::Legacy, true).unwrap(),
            vec![50, 4]
        );
    }
    #[test]
    fn basic_index_layout() {
        let l = Layout::contiguous(&[4, 5]);
        let v = index_layout(
            &l,
            &[IndexItem::Slice(None, None, Some(-2)), IndexItem::Int(-1)],
        )
        .unwrap();
        assert_eq!(v.shape, vec![2]);
        assert_eq!(v.offsets().collect::<Vec<_>>(), vec![19, 9]);
        let v = index_layout(&l, &[IndexItem::Ellipsis, IndexItem::NewAxis]).unwrap();
        assert_eq!(v.shape, vec![4, 5, 1]);
        assert!(index_layout(&l, &[IndexItem::Int(4)]).is_err());
    }
}
