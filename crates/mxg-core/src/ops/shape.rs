//! Array manipulation: concatenate, stack, split, tile, repeat, pad, roll, tril/triu, diagonal,
//! and the creation ranges arange, linspace, eye.
//!
//! tile, repeat, pad and roll are all one gather: output coordinate `j` along dimension `d`
//! reads input coordinate `map[d][j]` (or a fill value where the map says `None`). Their gradient
//! is the matching scatter-add, whose own gradient is the gather again.
use super::view::IndexItem;
use super::{apply1, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::layout::{norm_axis, numel, Layout, Shape};
use crate::storage::CpuElement;
use crate::{with_dtype, DType, Element, Error, Result, Tensor};
use std::sync::Arc;

fn full_slice() -> IndexItem {
    IndexItem::Slice(None, None, None)
}

/// A view of `t` with another shape over the same elements (a copy when the strides need one).
/// Not recorded: for use inside kernels.
fn raw_reshape(t: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if t.shape().as_slice() == shape {
        return Ok(t.clone());
    }
    match t.layout().reshape(shape) {
        Some(l) => Ok(t.with_layout(l)),
        None => Ok(Tensor::from_cpu(t.to_cpu_storage()?, t.shape())?
            .with_layout(Layout::contiguous(shape))),
    }
}

fn grad_for(g: Tensor, x: &Tensor) -> Result<Option<Tensor>> {
    if !x.dtype().is_float() {
        return Ok(None);
    }
    Ok(Some(g.cast(x.dtype())?))
}

fn shape_str(s: &[usize]) -> String {
    format!("{s:?}")
}

// ---------------------------------------------------------------------------------------------
// concatenate / stack

/// `concatenate(xs, axis)`; axis `None` joins the flattened arrays.
pub struct Concat {
    pub axis: Option<i64>,
    /// `concat` / `Concat` (MXNet 1.x, attribute `dim`) rather than `concatenate`.
    pub legacy: bool,
}

impl Concat {
    fn plan(&self, ins: &[Meta]) -> Result<(Shape, DType, Option<usize>)> {
        let op = "concatenate";
        if ins.is_empty() {
            return Err(Error::value(op, "need at least one array to concatenate"));
        }
        let dtype = ins
            .iter()
            .skip(1)
            .fold(ins[0].dtype, |a, m| DType::promote(a, m.dtype));
        let Some(axis) = self.axis else {
            let n = ins.iter().map(|m| numel(&m.shape)).sum();
            return Ok((vec![n], dtype, None));
        };
        let nd = ins[0].shape.len();
        if nd == 0 {
            return Err(Error::value(
                op,
                "zero-dimensional arrays cannot be concatenated",
            ));
        }
        let a = norm_axis(op, axis as isize, nd)?;
        let mut shape = ins[0].shape.clone();
        for (i, m) in ins.iter().enumerate().skip(1) {
            if m.shape.len() != nd {
                return Err(Error::value(op, format!("all the input arrays must have same number of dimensions, but the array at index 0 has {nd} dimension(s) and the array at index {i} has {} dimension(s)", m.shape.len())));
            }
            for d in 0..nd {
                if d != a && m.shape[d] != shape[d] {
                    return Err(Error::value(op, format!("all the input array dimensions except for the concatenation axis must match exactly, but along dimension {d}, the array at index 0 has size {} and the array at index {i} has size {} (shapes {} and {})", shape[d], m.shape[d], shape_str(&ins[0].shape), shape_str(&m.shape))));
                }
            }
            shape[a] += m.shape[a];
        }
        Ok((shape, dtype, Some(a)))
    }
}

impl Op for Concat {
    fn name(&self) -> &'static str {
        if self.legacy {
            "Concat"
        } else {
            "concatenate"
        }
    }
    fn mxnet_name(&self) -> &'static str {
        if self.axis.is_none() {
            "_npi_concatenate"
        } else {
            "Concat"
        }
    }
    fn attrs(&self) -> Attrs {
        match self.axis {
            None => Attrs::new().with("axis", Attr::None),
            Some(a) => Attrs::new().with("dim", Attr::Int(a)),
        }
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let (s, d, _) = self.plan(i)?;
        Ok(vec![Meta::new(s, d)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let (shape, dtype, axis) = self.plan(&metas)?;
        let out = Tensor::zeros(&shape, dtype, crate::Device::Cpu(0))?;
        let mut start = 0usize;
        for t in x {
            match axis {
                None => {
                    let n = t.numel();
                    let view = out.with_layout(out.layout().slice_axis(0, start, 1, n));
                    view.write_from(&raw_reshape(t, &[n])?)?;
                    start += n;
                }
                Some(a) => {
                    let n = t.shape()[a];
                    let view = out.with_layout(out.layout().slice_axis(a, start, 1, n));
                    view.write_from(t)?;
                    start += n;
                }
            }
        }
        Ok(vec![out.to_device(x[0].device())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let metas: Vec<Meta> = ctx.inputs.iter().map(Meta::of).collect();
        let (_, _, axis) = self.plan(&metas)?;
        let mut start = 0i64;
        let mut out = Vec::new();
        for t in ctx.inputs {
            let gi = match axis {
                None => {
                    let n = t.numel() as i64;
                    let s = g.index(vec![IndexItem::Slice(Some(start), Some(start + n), None)])?;
                    start += n;
                    s.reshape(t.shape())?
                }
                Some(a) => {
                    let n = t.shape()[a] as i64;
                    let mut items = vec![full_slice(); a];
                    items.push(IndexItem::Slice(Some(start), Some(start + n), None));
                    start += n;
                    g.index(items)?
                }
            };
            out.push(grad_for(gi, t)?);
        }
        Ok(out)
    }
}

/// `stack(xs, axis)`: join along a new axis.
pub struct Stack {
    pub axis: i64,
}

impl Stack {
    fn plan(&self, ins: &[Meta]) -> Result<(Shape, DType, usize)> {
        let op = "stack";
        if ins.is_empty() {
            return Err(Error::value(op, "need at least one array to stack"));
        }
        for (i, m) in ins.iter().enumerate() {
            if m.shape != ins[0].shape {
                return Err(Error::value(op, format!("all input arrays must have the same shape, but the array at index 0 has shape {} and the array at index {i} has shape {}", shape_str(&ins[0].shape), shape_str(&m.shape))));
            }
        }
        let dtype = ins
            .iter()
            .skip(1)
            .fold(ins[0].dtype, |a, m| DType::promote(a, m.dtype));
        let a = norm_axis(op, self.axis as isize, ins[0].shape.len() + 1)?;
        let mut shape = ins[0].shape.clone();
        shape.insert(a, ins.len());
        Ok((shape, dtype, a))
    }
}

impl Op for Stack {
    fn name(&self) -> &'static str {
        "stack"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("axis", Attr::Int(self.axis))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let (s, d, _) = self.plan(i)?;
        Ok(vec![Meta::new(s, d)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let metas: Vec<Meta> = x.iter().map(Meta::of).collect();
        let (shape, dtype, a) = self.plan(&metas)?;
        let out = Tensor::zeros(&shape, dtype, crate::Device::Cpu(0))?;
        for (i, t) in x.iter().enumerate() {
            out.with_layout(out.layout().index_axis(a, i))
                .write_from(t)?;
        }
        Ok(vec![out.to_device(x[0].device())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let metas: Vec<Meta> = ctx.inputs.iter().map(Meta::of).collect();
        let (_, _, a) = self.plan(&metas)?;
        ctx.inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut items = vec![full_slice(); a];
                items.push(IndexItem::Int(i as i64));
                grad_for(g.index(items)?, t)
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// split

#[derive(Clone, Debug, PartialEq)]
pub enum SplitBy {
    Sections(i64),
    Indices(Vec<i64>),
}

/// `split` / `array_split`: several outputs, each a view of the input.
pub struct Split {
    pub by: SplitBy,
    pub axis: i64,
    pub squeeze: bool,
    /// `split` needs equal sections; `array_split` does not.
    pub equal: bool,
}

impl Split {
    /// (axis, [(start, len)]) of each piece.
    fn pieces(&self, shape: &[usize]) -> Result<(usize, Vec<(usize, usize)>)> {
        let op = if self.equal { "split" } else { "array_split" };
        let a = norm_axis(op, self.axis as isize, shape.len())?;
        let n = shape[a];
        let pieces: Vec<(usize, usize)> = match &self.by {
            SplitBy::Sections(s) => {
                if *s <= 0 {
                    return Err(Error::value(op, "number sections must be larger than 0."));
                }
                let s = *s as usize;
                if self.equal && n % s != 0 {
                    return Err(Error::value(op, format!("array split does not result in an equal division: axis {a} of size {n} into {s} sections")));
                }
                let (each, extra) = (n / s, n % s);
                let mut start = 0;
                (0..s)
                    .map(|i| {
                        let len = each + (i < extra) as usize;
                        let p = (start, len);
                        start += len;
                        p
                    })
                    .collect()
            }
            SplitBy::Indices(ix) => {
                let norm = |v: i64| -> usize {
                    let v = if v < 0 { v + n as i64 } else { v };
                    v.clamp(0, n as i64) as usize
                };
                let mut bounds = vec![0usize];
                bounds.extend(ix.iter().map(|&v| norm(v)));
                bounds.push(n);
                bounds
                    .windows(2)
                    .map(|w| (w[0], w[1].saturating_sub(w[0])))
                    .collect()
            }
        };
        if self.squeeze {
            if let Some(p) = pieces.iter().find(|p| p.1 != 1) {
                return Err(Error::value(
                    op,
                    format!(
                        "squeeze_axis needs pieces of size 1 along axis {a}, got one of size {}",
                        p.1
                    ),
                ));
            }
        }
        Ok((a, pieces))
    }
}

impl Op for Split {
    fn name(&self) -> &'static str {
        if self.equal {
            "split"
        } else {
            "array_split"
        }
    }
    fn mxnet_name(&self) -> &'static str {
        "_npi_split"
    }
    fn attrs(&self) -> Attrs {
        let a = Attrs::new()
            .with("axis", Attr::Int(self.axis))
            .with("squeeze_axis", Attr::Bool(self.squeeze));
        match &self.by {
            SplitBy::Sections(s) => a.with("sections", Attr::Int(*s)),
            SplitBy::Indices(i) => a.with("indices", Attr::Ints(i.clone())),
        }
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let (a, pieces) = self.pieces(&i[0].shape)?;
        Ok(pieces
            .iter()
            .map(|p| {
                let mut s = i[0].shape.clone();
                if self.squeeze {
                    s.remove(a);
                } else {
                    s[a] = p.1;
                }
                Meta::new(s, i[0].dtype)
            })
            .collect())
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let x = &x[0];
        let (a, pieces) = self.pieces(x.shape())?;
        Ok(pieces
            .iter()
            .map(|&(start, len)| {
                let l = if self.squeeze {
                    x.layout().index_axis(a, start)
                } else {
                    x.layout().slice_axis(a, start, 1, len)
                };
                x.with_layout(l)
            })
            .collect())
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let x = ctx.input(0);
        if !x.dtype().is_float() {
            return Ok(vec![None]);
        }
        let (a, pieces) = self.pieces(x.shape())?;
        let mut parts = Vec::new();
        for (gi, &(_, len)) in g.iter().zip(&pieces) {
            let mut s = x.shape().clone();
            s[a] = len;
            let part = match gi {
                Some(t) if self.squeeze => t.expand_dims(a as i64)?,
                Some(t) => t.clone(),
                None => Tensor::zeros(&s, x.dtype(), x.device())?,
            };
            parts.push(part);
        }
        let refs: Vec<&Tensor> = parts.iter().collect();
        let gx = apply1(
            Arc::new(Concat {
                axis: Some(a as i64),
                legacy: false,
            }),
            &refs,
        )?;
        Ok(vec![grad_for(gx, x)?])
    }
}

// ---------------------------------------------------------------------------------------------
// Gathers by per-dimension maps: tile, repeat, pad, roll

/// Output coordinate `j` along dimension `d` reads input coordinate `maps[d][j]`; `None` reads
/// `fill`. The input is first viewed as `pre` (same elements, e.g. flattened).
#[derive(Clone, Debug, PartialEq)]
pub struct IndexMap {
    pub pre: Shape,
    pub maps: Vec<Vec<Option<usize>>>,
    pub fill: f64,
    /// The output's shape when it differs from the maps' (same elements: roll with axis None).
    pub out: Option<Shape>,
}

impl IndexMap {
    fn map_shape(&self) -> Shape {
        self.maps.iter().map(|m| m.len()).collect()
    }

    fn out_shape(&self) -> Shape {
        self.out.clone().unwrap_or_else(|| self.map_shape())
    }

    /// Source offsets (relative to a layout with `strides`) of each output element, `None` for fill.
    fn offsets(&self, strides: &[isize]) -> Vec<Option<isize>> {
        let shape = self.map_shape();
        let n = numel(&shape);
        let nd = shape.len();
        let mut out = Vec::with_capacity(n);
        if n == 0 {
            return out;
        }
        let mut idx = vec![0usize; nd];
        for _ in 0..n {
            let mut off = Some(0isize);
            for d in 0..nd {
                match (off, self.maps[d][idx[d]]) {
                    (Some(o), Some(s)) => off = Some(o + s as isize * strides[d]),
                    _ => {
                        off = None;
                        break;
                    }
                }
            }
            out.push(off);
            for d in (0..nd).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out
    }

    fn gather(&self, x: &Tensor) -> Result<Tensor> {
        let x = raw_reshape(x, &self.pre)?;
        let l = x.layout();
        let offs = self.offsets(&l.strides);
        let base = l.offset as isize;
        let st = x.storage()?;
        let data = with_dtype!(x.dtype(), T, {
            let s = T::slice(st.cpu("gather")?);
            let fill = T::from_f64(self.fill);
            T::wrap(
                offs.iter()
                    .map(|o| o.map_or(fill, |o| s[(base + o) as usize]))
                    .collect(),
            )
        });
        Tensor::from_cpu(data, &self.out_shape())
    }

    /// `g` (of the output shape) added into zeros of `pre`, returned with shape `shape`.
    fn scatter_add(&self, g: &Tensor, shape: &[usize]) -> Result<Tensor> {
        let strides = crate::layout::contiguous_strides(&self.pre);
        let offs = self.offsets(&strides);
        let st = g.storage()?;
        let data = with_dtype!(g.dtype(), T, {
            let gv = crate::backend::cpu::gather(T::slice(st.cpu("scatter_add")?), g.layout());
            let mut acc = vec![0f64; numel(&self.pre)];
            for (o, v) in offs.iter().zip(gv) {
                if let Some(o) = o {
                    acc[*o as usize] += v.to_f64();
                }
            }
            T::wrap(acc.into_iter().map(T::from_f64).collect())
        });
        Tensor::from_cpu(data, shape)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    Constant,
    Edge,
    Reflect,
    Symmetric,
    Wrap,
}

impl PadMode {
    fn parse(s: &str) -> Result<PadMode> {
        Ok(match s {
            "constant" => PadMode::Constant,
            "edge" => PadMode::Edge,
            "reflect" => PadMode::Reflect,
            "symmetric" => PadMode::Symmetric,
            "wrap" => PadMode::Wrap,
            _ => {
                return Err(Error::value(
                    "pad",
                    format!(
                    "mode {s:?} is not one of 'constant', 'edge', 'reflect', 'symmetric', 'wrap'"
                ),
                ))
            }
        })
    }
    fn name(self) -> &'static str {
        match self {
            PadMode::Constant => "constant",
            PadMode::Edge => "edge",
            PadMode::Reflect => "reflect",
            PadMode::Symmetric => "symmetric",
            PadMode::Wrap => "wrap",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum MapKind {
    Tile(Vec<i64>),
    Repeat {
        repeats: Vec<i64>,
        axis: Option<i64>,
    },
    Pad {
        /// 1, 2 or 2*ndim values (NumPy's pad_width forms, flattened).
        width: Vec<i64>,
        mode: PadMode,
        value: f64,
    },
    Roll {
        shift: Vec<i64>,
        axis: Option<Vec<i64>>,
    },
    /// A map already worked out (the gradient of a scatter).
    Fixed(IndexMap),
}

fn identity_map(n: usize) -> Vec<Option<usize>> {
    (0..n).map(Some).collect()
}

impl MapKind {
    fn op_name(&self) -> &'static str {
        match self {
            MapKind::Tile(_) => "tile",
            MapKind::Repeat { .. } => "repeat",
            MapKind::Pad { .. } => "pad",
            MapKind::Roll { .. } => "roll",
            MapKind::Fixed(_) => "map_gather",
        }
    }

    fn map(&self, shape: &[usize]) -> Result<IndexMap> {
        let op = self.op_name();
        let nd = shape.len();
        Ok(match self {
            MapKind::Fixed(m) => {
                if numel(&m.pre) != numel(shape) {
                    return Err(Error::shapes(
                        op,
                        &[&shape.to_vec(), &m.pre],
                        "sizes differ",
                    ));
                }
                m.clone()
            }
            MapKind::Tile(reps) => {
                if let Some(r) = reps.iter().find(|&&r| r < 0) {
                    return Err(Error::value(
                        op,
                        format!("reps {reps:?} has a negative entry {r}"),
                    ));
                }
                let d = nd.max(reps.len());
                let mut pre = vec![1usize; d - nd];
                pre.extend_from_slice(shape);
                let mut r = vec![1i64; d - reps.len()];
                r.extend_from_slice(reps);
                let maps = pre
                    .iter()
                    .zip(&r)
                    .map(|(&n, &k)| (0..n * k as usize).map(|j| Some(j % n.max(1))).collect())
                    .collect();
                IndexMap {
                    pre,
                    maps,
                    fill: 0.0,
                    out: None,
                }
            }
            MapKind::Repeat { repeats, axis } => {
                let (pre, a) = match axis {
                    None => (vec![numel(shape)], 0),
                    Some(a) => (shape.to_vec(), norm_axis(op, *a as isize, nd)?),
                };
                if pre.is_empty() {
                    return Err(Error::value(op, "axis must be given for a 0-d array"));
                }
                if repeats.iter().any(|&r| r < 0) {
                    return Err(Error::value(op, "repeats may not contain negative values."));
                }
                let n = pre[a];
                let m: Vec<Option<usize>> = if repeats.len() == 1 {
                    let r = repeats[0] as usize;
                    (0..n * r).map(|j| Some(j / r)).collect()
                } else if repeats.len() == n {
                    repeats
                        .iter()
                        .enumerate()
                        .flat_map(|(i, &r)| std::iter::repeat_n(Some(i), r as usize))
                        .collect()
                } else {
                    return Err(Error::value(
                        op,
                        format!(
                            "operands could not be broadcast together with shape ({n},) ({},)",
                            repeats.len()
                        ),
                    ));
                };
                let mut maps: Vec<Vec<Option<usize>>> =
                    pre.iter().map(|&d| identity_map(d)).collect();
                maps[a] = m;
                IndexMap {
                    pre,
                    maps,
                    fill: 0.0,
                    out: None,
                }
            }
            MapKind::Pad { width, mode, value } => {
                let w: Vec<(i64, i64)> = match width.len() {
                    1 => vec![(width[0], width[0]); nd],
                    2 => vec![(width[0], width[1]); nd],
                    l if l == 2 * nd => width.chunks(2).map(|c| (c[0], c[1])).collect(),
                    l => {
                        return Err(Error::value(op, format!("pad_width of {l} values does not fit an array of {nd} dimensions (shape {shape:?}): give 1, 2 or {} values", 2 * nd)))
                    }
                };
                if w.iter().any(|&(a, b)| a < 0 || b < 0) {
                    return Err(Error::value(op, "index can't contain negative values"));
                }
                let mut maps = Vec::new();
                for (d, &(before, after)) in w.iter().enumerate() {
                    let n = shape[d] as i64;
                    if n == 0 && (before > 0 || after > 0) && *mode != PadMode::Constant {
                        return Err(Error::value(op, format!("can't extend empty axis {d} using modes other than 'constant' or 'empty'")));
                    }
                    let m: Vec<Option<usize>> = (-before..n + after)
                        .map(|j| {
                            if (0..n).contains(&j) {
                                return Some(j as usize);
                            }
                            let s = match mode {
                                PadMode::Constant => return None,
                                PadMode::Edge => j.clamp(0, n - 1),
                                PadMode::Wrap => j.rem_euclid(n),
                                PadMode::Reflect => {
                                    if n == 1 {
                                        0
                                    } else {
                                        let p = 2 * (n - 1);
                                        let k = j.rem_euclid(p);
                                        if k >= n {
                                            p - k
                                        } else {
                                            k
                                        }
                                    }
                                }
                                PadMode::Symmetric => {
                                    let p = 2 * n;
                                    let k = j.rem_euclid(p);
                                    if k >= n {
                                        p - 1 - k
                                    } else {
                                        k
                                    }
                                }
                            };
                            Some(s as usize)
                        })
                        .collect();
                    maps.push(m);
                }
                IndexMap {
                    pre: shape.to_vec(),
                    maps,
                    fill: *value,
                    out: None,
                }
            }
            MapKind::Roll { shift, axis } => {
                let (pre, axes): (Shape, Vec<usize>) = match axis {
                    None => (vec![numel(shape)], vec![0; shift.len().max(1)]),
                    Some(ax) => (
                        shape.to_vec(),
                        ax.iter()
                            .map(|&a| norm_axis(op, a as isize, nd))
                            .collect::<Result<_>>()?,
                    ),
                };
                let (sh, axes) = match (shift.len(), axes.len()) {
                    (s, a) if s == a => (shift.clone(), axes),
                    (1, a) => (vec![shift[0]; a], axes),
                    (s, 1) => (shift.clone(), vec![axes[0]; s]),
                    _ => {
                        return Err(Error::value(
                            op,
                            format!("'shift' and 'axis' should be scalars or 1D sequences of the same length (got {shift:?} and {axis:?})"),
                        ))
                    }
                };
                let mut total = vec![0i64; pre.len()];
                for (s, a) in sh.iter().zip(&axes) {
                    total[*a] += s;
                }
                let maps = pre
                    .iter()
                    .zip(&total)
                    .map(|(&n, &s)| {
                        let n = n as i64;
                        (0..n)
                            .map(|j| Some((j - s).rem_euclid(n.max(1)) as usize))
                            .collect()
                    })
                    .collect();
                IndexMap {
                    out: axis.is_none().then(|| shape.to_vec()),
                    pre,
                    maps,
                    fill: 0.0,
                }
            }
        })
    }
}

/// tile, repeat, pad and roll (and the gradient of their gradient).
pub struct MapGather(pub MapKind);

impl Op for MapGather {
    fn name(&self) -> &'static str {
        self.0.op_name()
    }
    fn mxnet_name(&self) -> &'static str {
        match self.0 {
            MapKind::Pad { .. } => "Pad",
            MapKind::Roll { .. } => "_npi_roll",
            _ => self.0.op_name(),
        }
    }
    fn attrs(&self) -> Attrs {
        let opt = |v: &Option<Vec<i64>>| v.as_ref().map_or(Attr::None, |v| Attr::Ints(v.clone()));
        match &self.0 {
            MapKind::Tile(r) => Attrs::new().with("reps", Attr::Ints(r.clone())),
            MapKind::Repeat { repeats, axis } => Attrs::new()
                .with(
                    "repeats",
                    if repeats.len() == 1 {
                        Attr::Int(repeats[0])
                    } else {
                        Attr::Ints(repeats.clone())
                    },
                )
                .with("axis", axis.map_or(Attr::None, Attr::Int)),
            MapKind::Pad { width, mode, value } => Attrs::new()
                .with("pad_width", Attr::Ints(width.clone()))
                .with("mode", Attr::Str(mode.name().into()))
                .with("constant_value", Attr::Float(*value)),
            MapKind::Roll { shift, axis } => Attrs::new()
                .with("shift", Attr::Ints(shift.clone()))
                .with("axis", opt(axis)),
            MapKind::Fixed(_) => Attrs::new(),
        }
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(
            self.0.map(&i[0].shape)?.out_shape(),
            i[0].dtype,
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let m = self.0.map(x[0].shape())?;
        Ok(vec![m.gather(&x[0])?.to_device(x[0].device())?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let x = ctx.input(0);
        if !x.dtype().is_float() {
            return Ok(vec![None]);
        }
        let g = g[0].clone().expect("single output");
        let m = self.0.map(x.shape())?;
        let gx = apply1(
            Arc::new(MapScatter {
                map: m,
                shape: x.shape().clone(),
            }),
            &[&g],
        )?;
        Ok(vec![Some(gx)])
    }
}

/// The gradient of a `MapGather`: the output gradient added back to where each element came from.
pub struct MapScatter {
    pub map: IndexMap,
    pub shape: Shape,
}

impl Op for MapScatter {
    fn name(&self) -> &'static str {
        "map_scatter_add"
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(self.shape.clone(), i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let g = &x[0];
        if g.shape().as_slice() != self.map.out_shape().as_slice() {
            return Err(Error::shapes(
                "map_scatter_add",
                &[g.shape(), &self.map.out_shape()],
                "the gradient must have the output's shape",
            ));
        }
        Ok(vec![self
            .map
            .scatter_add(g, &self.shape)?
            .to_device(g.device())?])
    }
    fn backward(&self, _ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let gg = g[0].clone().expect("single output");
        let mut m = self.map.clone();
        m.fill = 0.0;
        Ok(vec![Some(apply1(
            Arc::new(MapGather(MapKind::Fixed(m))),
            &[&gg],
        )?)])
    }
}

// ---------------------------------------------------------------------------------------------
// tril / triu, diagonal

/// `tril(x, k)` / `triu(x, k)` on the last two dimensions (a 1-d input is broadcast to 2-d).
pub struct Tri {
    pub k: i64,
    pub upper: bool,
}

impl Op for Tri {
    fn name(&self) -> &'static str {
        if self.upper {
            "triu"
        } else {
            "tril"
        }
    }
    fn attrs(&self) -> Attrs {
        Attrs::new().with("k", Attr::Int(self.k))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let s = &i[0].shape;
        let shape = match s.len() {
            0 => {
                return Err(Error::value(
                    self.name(),
                    "input must be at least 1-d (got a 0-d array)",
                ))
            }
            1 => vec![s[0], s[0]],
            _ => s.clone(),
        };
        Ok(vec![Meta::new(shape, i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let shape = self.infer(&[Meta::of(&x[0])])?.swap_remove(0).shape;
        let l = x[0].layout().broadcast_to(self.name(), &shape)?;
        let nd = shape.len();
        let (r, c) = (shape[nd - 2], shape[nd - 1]);
        let st = x[0].storage()?;
        let data = with_dtype!(x[0].dtype(), T, {
            let s = T::slice(st.cpu(self.name())?);
            let v: Vec<T> = l
                .offsets()
                .enumerate()
                .map(|(n, o)| {
                    let j = (n % c.max(1)) as i64;
                    let i = ((n / c.max(1)) % r.max(1)) as i64;
                    let keep = if self.upper {
                        j - i >= self.k
                    } else {
                        j - i <= self.k
                    };
                    if keep {
                        s[o]
                    } else {
                        T::zero()
                    }
                })
                .collect();
            T::wrap(v)
        });
        Ok(vec![
            Tensor::from_cpu(data, &shape)?.to_device(x[0].device())?
        ])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let x = ctx.input(0);
        let g = g[0].clone().expect("single output");
        let gm = apply1(
            Arc::new(Tri {
                k: self.k,
                upper: self.upper,
            }),
            &[&g],
        )?;
        let gx = if x.ndim() == 1 {
            gm.sum_axes(&[0], false)?
        } else {
            gm
        };
        grad_for(gx, x).map(|g| vec![g])
    }
}

/// `diagonal(x, offset, axis1, axis2)`: a view; the diagonal becomes the last dimension.
pub struct Diagonal {
    pub offset: i64,
    pub axis1: i64,
    pub axis2: i64,
}

impl Diagonal {
    fn layout(&self, l: &Layout) -> Result<Layout> {
        let op = "diagonal";
        let nd = l.ndim();
        if nd < 2 {
            return Err(Error::value(
                op,
                format!(
                    "diag requires an array of at least two dimensions (got shape {:?})",
                    l.shape
                ),
            ));
        }
        let a1 = norm_axis(op, self.axis1 as isize, nd)?;
        let a2 = norm_axis(op, self.axis2 as isize, nd)?;
        if a1 == a2 {
            return Err(Error::value(op, "axis1 and axis2 cannot be the same"));
        }
        let (n1, n2) = (l.shape[a1] as i64, l.shape[a2] as i64);
        let k = self.offset;
        let len = if k >= 0 {
            n1.min(n2 - k)
        } else {
            (n1 + k).min(n2)
        }
        .max(0) as usize;
        let mut offset = l.offset as isize;
        if len > 0 {
            offset += if k >= 0 {
                k as isize * l.strides[a2]
            } else {
                -k as isize * l.strides[a1]
            };
        }
        let mut shape = Vec::new();
        let mut strides = Vec::new();
        for d in 0..nd {
            if d != a1 && d != a2 {
                shape.push(l.shape[d]);
                strides.push(l.strides[d]);
            }
        }
        shape.push(len);
        strides.push(l.strides[a1] + l.strides[a2]);
        Ok(Layout {
            shape,
            strides,
            offset: offset as usize,
        })
    }
}

impl Op for Diagonal {
    fn name(&self) -> &'static str {
        "diagonal"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("offset", Attr::Int(self.offset))
            .with("axis1", Attr::Int(self.axis1))
            .with("axis2", Attr::Int(self.axis2))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(
            self.layout(&Layout::contiguous(&i[0].shape))?.shape,
            i[0].dtype,
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(vec![x[0].with_layout(self.layout(x[0].layout())?)])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let x = ctx.input(0);
        let g = g[0].clone().expect("single output");
        let gx = apply1(
            Arc::new(DiagonalGrad {
                offset: self.offset,
                axis1: self.axis1,
                axis2: self.axis2,
                shape: x.shape().clone(),
            }),
            &[&g],
        )?;
        grad_for(gx, x).map(|g| vec![g])
    }
}

/// The gradient of `diagonal`: `g` written onto the diagonal of zeros.
pub struct DiagonalGrad {
    pub offset: i64,
    pub axis1: i64,
    pub axis2: i64,
    pub shape: Shape,
}

impl DiagonalGrad {
    fn diag(&self) -> Diagonal {
        Diagonal {
            offset: self.offset,
            axis1: self.axis1,
            axis2: self.axis2,
        }
    }
}

impl Op for DiagonalGrad {
    fn name(&self) -> &'static str {
        "diagonal_grad"
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(self.shape.clone(), i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let z = Tensor::zeros(&self.shape, x[0].dtype(), crate::Device::Cpu(0))?;
        z.with_layout(self.diag().layout(z.layout())?)
            .write_from(&x[0])?;
        Ok(vec![z.to_device(x[0].device())?])
    }
    fn backward(&self, _ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let gg = g[0].clone().expect("single output");
        Ok(vec![Some(apply1(Arc::new(self.diag()), &[&gg])?)])
    }
}

// ---------------------------------------------------------------------------------------------
// Creation: arange, linspace, eye (no inputs; CPU tensors)

pub struct Arange {
    pub start: f64,
    pub stop: Option<f64>,
    pub step: f64,
    pub repeat: usize,
    pub dtype: DType,
}

impl Arange {
    fn len(&self) -> Result<(f64, usize)> {
        let (start, stop) = match self.stop {
            Some(s) => (self.start, s),
            None => (0.0, self.start),
        };
        if self.step == 0.0 {
            return Err(Error::value("arange", "step must not be zero"));
        }
        if !(start.is_finite() && stop.is_finite() && self.step.is_finite()) {
            return Err(Error::value(
                "arange",
                "arange: cannot compute length (non-finite bounds)",
            ));
        }
        let n = ((stop - start) / self.step).ceil();
        Ok((start, if n > 0.0 { n as usize } else { 0 }))
    }
}

impl Op for Arange {
    fn name(&self) -> &'static str {
        "arange"
    }
    fn mxnet_name(&self) -> &'static str {
        "_arange"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("start", Attr::Float(self.start))
            .with("stop", self.stop.map_or(Attr::None, Attr::Float))
            .with("step", Attr::Float(self.step))
            .with("repeat", Attr::Int(self.repeat as i64))
            .with("dtype", Attr::Str(self.dtype.name().into()))
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn infer(&self, _i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(
            vec![self.len()?.1 * self.repeat],
            self.dtype,
        )])
    }
    fn forward(&self, _x: &[Tensor]) -> Result<Vec<Tensor>> {
        let (start, n) = self.len()?;
        let r = self.repeat;
        let data = with_dtype!(self.dtype, T, {
            T::wrap(
                (0..n * r)
                    .map(|i| T::from_f64(start + (i / r) as f64 * self.step))
                    .collect(),
            )
        });
        Ok(vec![Tensor::from_cpu(data, &[n * r])?])
    }
}

pub struct Linspace {
    pub start: f64,
    pub stop: f64,
    pub num: i64,
    pub endpoint: bool,
    pub dtype: DType,
}

impl Op for Linspace {
    fn name(&self) -> &'static str {
        "linspace"
    }
    fn mxnet_name(&self) -> &'static str {
        "_linspace"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("start", Attr::Float(self.start))
            .with("stop", Attr::Float(self.stop))
            .with("num", Attr::Int(self.num))
            .with("endpoint", Attr::Bool(self.endpoint))
            .with("dtype", Attr::Str(self.dtype.name().into()))
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn infer(&self, _i: &[Meta]) -> Result<Vec<Meta>> {
        if self.num < 0 {
            return Err(Error::value(
                "linspace",
                format!("Number of samples, {}, must be non-negative.", self.num),
            ));
        }
        Ok(vec![Meta::new(vec![self.num as usize], self.dtype)])
    }
    fn forward(&self, _x: &[Tensor]) -> Result<Vec<Tensor>> {
        self.infer(&[])?;
        let n = self.num as usize;
        let div = if self.endpoint {
            n.saturating_sub(1)
        } else {
            n
        };
        let step = if div > 0 {
            (self.stop - self.start) / div as f64
        } else {
            0.0
        };
        let mut v: Vec<f64> = (0..n).map(|i| self.start + i as f64 * step).collect();
        if self.endpoint && n > 1 {
            v[n - 1] = self.stop;
        }
        if !self.dtype.is_float() {
            v.iter_mut().for_each(|x| *x = x.floor());
        }
        let data = with_dtype!(
            self.dtype,
            T,
            T::wrap(v.into_iter().map(T::from_f64).collect())
        );
        Ok(vec![Tensor::from_cpu(data, &[n])?])
    }
}

/// `zeros`/`ones`/`full` of a fixed shape, as graphs hold them (MXNet's `_zeros`, `_npi_ones`, ...).
pub struct Full {
    pub shape: Vec<usize>,
    pub value: f64,
    pub dtype: DType,
}

impl Op for Full {
    fn name(&self) -> &'static str {
        "full"
    }
    fn mxnet_name(&self) -> &'static str {
        match self.value {
            v if v == 0.0 => "_zeros",
            v if v == 1.0 => "_ones",
            _ => "_full",
        }
    }
    fn attrs(&self) -> Attrs {
        let a = Attrs::new()
            .with(
                "shape",
                Attr::Ints(self.shape.iter().map(|&d| d as i64).collect()),
            )
            .with("dtype", Attr::Str(self.dtype.name().into()));
        if self.value == 0.0 || self.value == 1.0 {
            a
        } else {
            a.with("value", Attr::Float(self.value))
        }
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn infer(&self, _i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(self.shape.clone(), self.dtype)])
    }
    fn forward(&self, _x: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(vec![Tensor::full(
            &self.shape,
            self.value,
            self.dtype,
            crate::Device::Cpu(0),
        )?])
    }
}

pub struct Eye {
    pub n: i64,
    pub m: Option<i64>,
    pub k: i64,
    pub dtype: DType,
}

impl Op for Eye {
    fn name(&self) -> &'static str {
        "eye"
    }
    fn mxnet_name(&self) -> &'static str {
        "_eye"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("N", Attr::Int(self.n))
            .with("M", Attr::Int(self.m.unwrap_or(0)))
            .with("k", Attr::Int(self.k))
            .with("dtype", Attr::Str(self.dtype.name().into()))
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn infer(&self, _i: &[Meta]) -> Result<Vec<Meta>> {
        let m = self.m.unwrap_or(self.n);
        if self.n < 0 || m < 0 {
            return Err(Error::value(
                "eye",
                format!("negative dimensions are not allowed (N={}, M={m})", self.n),
            ));
        }
        Ok(vec![Meta::new(
            vec![self.n as usize, m as usize],
            self.dtype,
        )])
    }
    fn forward(&self, _x: &[Tensor]) -> Result<Vec<Tensor>> {
        let s = self.infer(&[])?.swap_remove(0).shape;
        let (r, c) = (s[0], s[1]);
        let data = with_dtype!(self.dtype, T, {
            let mut v = vec![T::zero(); r * c];
            for i in 0..r as i64 {
                let j = i + self.k;
                if j >= 0 && j < c as i64 {
                    v[i as usize * c + j as usize] = T::one();
                }
            }
            T::wrap(v)
        });
        Ok(vec![Tensor::from_cpu(data, &s)?])
    }
}

// ---------------------------------------------------------------------------------------------
// Tensor methods and the registry

impl Tensor {
    pub fn concatenate(xs: &[&Tensor], axis: Option<i64>) -> Result<Tensor> {
        apply1(
            Arc::new(Concat {
                axis,
                legacy: false,
            }),
            xs,
        )
    }
    pub fn stack(xs: &[&Tensor], axis: i64) -> Result<Tensor> {
        apply1(Arc::new(Stack { axis }), xs)
    }
    pub fn tile(&self, reps: Vec<i64>) -> Result<Tensor> {
        apply1(Arc::new(MapGather(MapKind::Tile(reps))), &[self])
    }
    pub fn repeat(&self, repeats: Vec<i64>, axis: Option<i64>) -> Result<Tensor> {
        apply1(
            Arc::new(MapGather(MapKind::Repeat { repeats, axis })),
            &[self],
        )
    }
}

fn dtype_or(a: &Attrs, op: &str, d: DType) -> Result<DType> {
    Ok(a.opt_dtype(op, "dtype")?.unwrap_or(d))
}

pub fn register(r: &mut Registry) {
    r.insert("concatenate", |a| {
        let axis = match a.get("axis") {
            None if a.0.iter().any(|(k, _)| k == "axis") => None,
            _ => Some(a.int("concatenate", "axis", 0)?),
        };
        Ok(Arc::new(Concat {
            axis,
            legacy: false,
        }))
    });
    r.insert("_npi_concatenate", |a| {
        let axis = match a.get("axis") {
            None if a.0.iter().any(|(k, _)| k == "axis") => None,
            _ => Some(a.int("concatenate", "axis", 0)?),
        };
        Ok(Arc::new(Concat {
            axis,
            legacy: false,
        }))
    });
    fn legacy_concat(a: &Attrs) -> Result<Arc<dyn Op>> {
        let d = a
            .opt_int("Concat", "dim")?
            .or(a.opt_int("Concat", "axis")?)
            .unwrap_or(1);
        Ok(Arc::new(Concat {
            axis: Some(d),
            legacy: true,
        }))
    }
    r.insert("Concat", legacy_concat);
    r.insert("concat", legacy_concat);
    // 1.x exports of RNN layers join the per-gate weights into the flat parameter with it.
    r.insert("_rnn_param_concat", legacy_concat);
    fn stack(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(Stack {
            axis: a.int("stack", "axis", 0)?,
        }))
    }
    r.insert("stack", stack);
    r.insert("_npi_stack", stack);
    fn np_split(a: &Attrs, equal: bool) -> Result<Arc<dyn Op>> {
        let op = if equal { "split" } else { "array_split" };
        if a.get("num_outputs").is_some() {
            return legacy_split(a);
        }
        let sections = a.opt_int(op, "sections")?;
        let indices = a.opt_ints(op, "indices")?;
        let by = match (sections, indices) {
            (Some(s), None) => SplitBy::Sections(s),
            (Some(s), Some(_)) if s > 0 => SplitBy::Sections(s),
            (_, Some(i)) => SplitBy::Indices(i),
            (None, None) => match a.get("indices_or_sections") {
                Some(Attr::Int(s)) => SplitBy::Sections(*s),
                Some(_) => SplitBy::Indices(a.ints(op, "indices_or_sections", &[])?),
                None => {
                    return Err(Error::value(op, "indices_or_sections is required"));
                }
            },
        };
        Ok(Arc::new(Split {
            by,
            axis: a.int(op, "axis", 0)?,
            squeeze: a.bool(op, "squeeze_axis", false)?,
            equal,
        }))
    }
    fn legacy_split(a: &Attrs) -> Result<Arc<dyn Op>> {
        let op = "SliceChannel";
        Ok(Arc::new(Split {
            by: SplitBy::Sections(a.req_int(op, "num_outputs")?),
            axis: a.int(op, "axis", 1)?,
            squeeze: a.bool(op, "squeeze_axis", false)?,
            equal: true,
        }))
    }
    r.insert("split", |a| np_split(a, true));
    r.insert("_npi_split", |a| np_split(a, true));
    r.insert("array_split", |a| np_split(a, false));
    r.insert("_npi_array_split", |a| np_split(a, false));
    r.insert("SliceChannel", legacy_split);
    fn tile(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(MapGather(MapKind::Tile(a.ints(
            "tile",
            "reps",
            &[],
        )?))))
    }
    r.insert("tile", tile);
    r.insert("_npi_tile", tile);
    fn repeat(a: &Attrs) -> Result<Arc<dyn Op>> {
        let repeats = a
            .opt_ints("repeat", "repeats")?
            .ok_or_else(|| Error::value("repeat", "repeats is required"))?;
        Ok(Arc::new(MapGather(MapKind::Repeat {
            repeats,
            axis: a.opt_int("repeat", "axis")?,
        })))
    }
    r.insert("repeat", repeat);
    r.insert("_npi_repeat", repeat);
    r.insert("_npi_repeats", repeat);
    fn pad(a: &Attrs) -> Result<Arc<dyn Op>> {
        let op = "pad";
        let width = a
            .opt_ints(op, "pad_width")?
            .ok_or_else(|| Error::value(op, "pad_width is required"))?;
        let value = match a.opt_float(op, "constant_values")? {
            Some(v) => v,
            None => a.float(op, "constant_value", 0.0)?,
        };
        Ok(Arc::new(MapGather(MapKind::Pad {
            width,
            mode: PadMode::parse(&a.str("mode", "constant"))?,
            value,
        })))
    }
    r.insert("pad", pad);
    r.insert("Pad", pad);
    r.insert("_npi_pad", pad);
    fn roll(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(MapGather(MapKind::Roll {
            shift: a.ints("roll", "shift", &[0])?,
            axis: a.opt_ints("roll", "axis")?,
        })))
    }
    r.insert("roll", roll);
    r.insert("_npi_roll", roll);
    fn arange(a: &Attrs) -> Result<Arc<dyn Op>> {
        let op = "arange";
        let repeat = a.int(op, "repeat", 1)?;
        if repeat < 1 {
            return Err(Error::value(
                op,
                format!("repeat {repeat} must be at least 1"),
            ));
        }
        Ok(Arc::new(Arange {
            start: a.float(op, "start", 0.0)?,
            stop: a.opt_float(op, "stop")?,
            step: a.float(op, "step", 1.0)?,
            repeat: repeat as usize,
            dtype: dtype_or(a, op, DType::F32)?,
        }))
    }
    r.insert("arange", arange);
    r.insert("_arange", arange);
    r.insert("_npi_arange", arange);
    fn linspace(a: &Attrs) -> Result<Arc<dyn Op>> {
        let op = "linspace";
        Ok(Arc::new(Linspace {
            start: a.float(op, "start", 0.0)?,
            stop: a
                .opt_float(op, "stop")?
                .ok_or_else(|| Error::value(op, "stop is required"))?,
            num: a.int(op, "num", 50)?,
            endpoint: a.bool(op, "endpoint", true)?,
            dtype: dtype_or(a, op, DType::F32)?,
        }))
    }
    r.insert("linspace", linspace);
    r.insert("_linspace", linspace);
    r.insert("_npi_linspace", linspace);
    fn eye(a: &Attrs) -> Result<Arc<dyn Op>> {
        let op = "eye";
        let n = a.req_int(op, "N")?;
        let m = a.opt_int(op, "M")?.filter(|&m| m != 0 || n == 0);
        Ok(Arc::new(Eye {
            n,
            m,
            k: a.int(op, "k", 0)?,
            dtype: dtype_or(a, op, DType::F32)?,
        }))
    }
    fn full(a: &Attrs, value: Option<f64>) -> Result<Arc<dyn Op>> {
        let op = "full";
        let shape = a.ints(op, "shape", &[])?;
        if let Some(d) = shape.iter().find(|&&d| d < 1) {
            return Err(Error::value(
                op,
                format!(
                    "shape {shape:?} has a dimension {d}: a graph's constant needs its full shape"
                ),
            ));
        }
        Ok(Arc::new(Full {
            shape: shape.iter().map(|&d| d as usize).collect(),
            value: match value {
                Some(v) => v,
                None => a.float(op, "value", 0.0)?,
            },
            dtype: a.opt_dtype(op, "dtype")?.unwrap_or(DType::F32),
        }))
    }
    r.insert("_zeros", |a| full(a, Some(0.0)));
    r.insert("_npi_zeros", |a| full(a, Some(0.0)));
    r.insert("_ones", |a| full(a, Some(1.0)));
    r.insert("_npi_ones", |a| full(a, Some(1.0)));
    r.insert("_full", |a| full(a, None));
    r.insert("_npi_full", |a| full(a, None));
    r.insert("eye", eye);
    r.insert("_eye", eye);
    r.insert("_npi_eye", eye);
    r.insert("tril", |a| {
        Ok(Arc::new(Tri {
            k: a.int("tril", "k", 0)?,
            upper: false,
        }))
    });
    r.insert("_npi_tril", |a| {
        Ok(Arc::new(Tri {
            k: a.int("tril", "k", 0)?,
            upper: false,
        }))
    });
    r.insert("triu", |a| {
        Ok(Arc::new(Tri {
            k: a.int("triu", "k", 0)?,
            upper: true,
        }))
    });
    r.insert("_npi_triu", |a| {
        Ok(Arc::new(Tri {
            k: a.int("triu", "k", 0)?,
            upper: true,
        }))
    });
    fn diagonal(a: &Attrs) -> Result<Arc<dyn Op>> {
        let op = "diagonal";
        Ok(Arc::new(Diagonal {
            offset: a.int(op, "offset", 0)?,
            axis1: a.int(op, "axis1", 0)?,
            axis2: a.int(op, "axis2", 1)?,
        }))
    }
    r.insert("diagonal", diagonal);
    r.insert("_npi_diagonal", diagonal);
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn pad_maps_follow_numpy() {
        let m = MapKind::Pad {
            width: vec![7],
            mode: PadMode::Reflect,
            value: 0.0,
        }
        .map(&[3])
        .unwrap();
        let v: Vec<usize> = m.maps[0].iter().map(|x| x.unwrap()).collect();
        assert_eq!(v, vec![1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1]);
        let m = MapKind::Pad {
            width: vec![7],
            mode: PadMode::Symmetric,
            value: 0.0,
        }
        .map(&[3])
        .unwrap();
        let v: Vec<usize> = m.maps[0].iter().map(|x| x.unwrap()).collect();
        assert_eq!(v, vec![0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2]);
    }
    #[test]
    fn tile_and_concat() {
        let x = Tensor::from_vec(vec![1f32, 2.], &[2]).unwrap();
        assert_eq!(
            x.tile(vec![2, 2]).unwrap().to_vec::<f32>().unwrap(),
            vec![1., 2., 1., 2., 1., 2., 1., 2.]
        );
        let y = Tensor::concatenate(&[&x, &x], Some(0)).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![1., 2., 1., 2.]);
        assert!(Tensor::concatenate(&[&x, &y.reshape(&[2, 2]).unwrap()], Some(0)).is_err());
    }
}
