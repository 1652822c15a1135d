//! Indexing by arrays: NumPy advanced indexing (integer arrays broadcast together, boolean masks,
//! mixed with basic items), `take`, `pick`, `boolean_mask`, the scatters that write `x[adv] = v`
//! and accumulate gradients, `nonzero` and `one_hot`.
//!
//! Every gather is planned the same way: the source offset of each output element, in row-major
//! order of the output (`plan`). The gather reads those offsets, its gradient adds into them, and
//! the in-place setitem writes them.
use super::view::{index_layout, IndexItem};
use super::{apply1, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::layout::{broadcast_shapes, norm_axis, numel, Layout, Shape};
use crate::storage::CpuElement;
use crate::{with_dtype, DType, Element, Error, Result, Tensor};
use std::sync::Arc;

/// How out-of-range indices are handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// NumPy: negative indices count from the end, others out of range raise IndexError.
    Raise,
    /// Clip into `[0, n-1]` (negative indices go to 0, as MXNet does).
    Clip,
    /// Wrap around modulo `n`.
    Wrap,
}

impl Mode {
    fn parse(op: &str, s: &str) -> Result<Mode> {
        Ok(match s {
            "raise" => Mode::Raise,
            "clip" => Mode::Clip,
            "wrap" => Mode::Wrap,
            _ => {
                return Err(Error::value(
                    op,
                    format!("mode {s:?} is not one of 'raise', 'clip', 'wrap'"),
                ))
            }
        })
    }
    fn name(self) -> &'static str {
        match self {
            Mode::Raise => "raise",
            Mode::Clip => "clip",
            Mode::Wrap => "wrap",
        }
    }
}

/// One item of an advanced index key: a basic item, or the next index-array input.
#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    Basic(IndexItem),
    Array,
}

/// What a gather selects; the index arrays are the op's extra inputs.
#[derive(Clone, Debug, PartialEq)]
pub enum Spec {
    /// `x[key]` with NumPy's advanced-indexing rules.
    Index(Vec<Key>),
    /// `take(x, idx, axis, mode)`; axis `None` takes from the flattened array.
    Take { axis: Option<i64>, mode: Mode },
    /// `npx.pick(x, idx, axis, keepdims, mode)`.
    Pick {
        axis: i64,
        keepdims: bool,
        mode: Mode,
    },
    /// `boolean_mask(x, mask, axis)`: the rows along `axis` where the 1-d mask is true.
    Mask { axis: i64 },
}

const NONE: i64 = i64::MIN;

/// Keys to the flat integer code Python sends (`key` attribute): four ints an item.
pub fn encode_keys(keys: &[Key]) -> Vec<i64> {
    let o = |v: &Option<i64>| v.unwrap_or(NONE);
    keys.iter()
        .flat_map(|k| match k {
            Key::Basic(IndexItem::Int(i)) => [0, *i, 0, 0],
            Key::Basic(IndexItem::Slice(a, b, c)) => [1, o(a), o(b), o(c)],
            Key::Basic(IndexItem::NewAxis) => [2, 0, 0, 0],
            Key::Basic(IndexItem::Ellipsis) => [3, 0, 0, 0],
            Key::Array => [4, 0, 0, 0],
        })
        .collect()
}

pub fn decode_keys(op: &str, code: &[i64]) -> Result<Vec<Key>> {
    if code.len() % 4 != 0 {
        return Err(Error::value(
            op,
            format!("key code of length {} is not four ints an item", code.len()),
        ));
    }
    let o = |v: i64| if v == NONE { None } else { Some(v) };
    code.chunks(4)
        .map(|c| {
            Ok(match c[0] {
                0 => Key::Basic(IndexItem::Int(c[1])),
                1 => Key::Basic(IndexItem::Slice(o(c[1]), o(c[2]), o(c[3]))),
                2 => Key::Basic(IndexItem::NewAxis),
                3 => Key::Basic(IndexItem::Ellipsis),
                4 => Key::Array,
                k => return Err(Error::value(op, format!("unknown key item code {k}"))),
            })
        })
        .collect()
}

/// An integer index array, in row-major order.
struct IdxArr {
    values: Vec<i64>,
    shape: Shape,
}

/// Index values of a tensor as i64 (floats truncate; only where `allow_float`).
fn int_values(op: &str, t: &Tensor, allow_float: bool) -> Result<Vec<i64>> {
    if t.dtype().is_float() && !allow_float {
        return Err(Error::index(
            op,
            format!(
                "arrays used as indices must be of integer (or boolean) type, not {}",
                t.dtype()
            ),
        ));
    }
    with_dtype!(
        t.dtype(),
        T,
        Ok(t.to_vec::<T>()?.into_iter().map(|v| v.to_i64()).collect())
    )
}

/// The coordinates of the true (non-zero) elements, one vector per dimension.
fn nonzero_coords(t: &Tensor) -> Result<Vec<Vec<i64>>> {
    let nz: Vec<bool> = with_dtype!(
        t.dtype(),
        T,
        t.to_vec::<T>()?
            .into_iter()
            .map(|v| v != T::zero())
            .collect()
    );
    let shape = t.shape().clone();
    let mut out = vec![Vec::new(); shape.len()];
    let mut idx = vec![0usize; shape.len()];
    for &b in &nz {
        if b {
            for (d, &i) in idx.iter().enumerate() {
                out[d].push(i as i64);
            }
        }
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(out)
}

/// Signed offsets (from 0) of every element of `shape` with `strides`, row-major.
fn signed_offsets(shape: &[usize], strides: &[isize]) -> Vec<isize> {
    let n = numel(shape);
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let nd = shape.len();
    let mut idx = vec![0usize; nd];
    let mut cur = 0isize;
    for _ in 0..n {
        out.push(cur);
        for d in (0..nd).rev() {
            idx[d] += 1;
            cur += strides[d];
            if idx[d] < shape[d] {
                break;
            }
            cur -= strides[d] * shape[d] as isize;
            idx[d] = 0;
        }
    }
    out
}

/// Normalise one index against a dimension of size `n` (`axis` names it in messages).
#[inline]
fn norm_index(op: &str, i: i64, n: usize, axis: usize, mode: Mode) -> Result<i64> {
    let n = n as i64;
    match mode {
        Mode::Raise => {
            let j = if i < 0 { i + n } else { i };
            if j < 0 || j >= n {
                return Err(Error::index(
                    op,
                    format!("index {i} is out of bounds for axis {axis} with size {n}"),
                ));
            }
            Ok(j)
        }
        _ if n == 0 => Err(Error::index(
            op,
            format!("cannot do a non-empty take from an empty axis {axis}"),
        )),
        Mode::Clip => Ok(i.clamp(0, n - 1)),
        Mode::Wrap => Ok(i.rem_euclid(n)),
    }
}

/// An advanced key item after boolean masks are expanded into integer arrays.
enum PKey {
    Basic(IndexItem),
    /// An integer array indexing one input dimension.
    Arr(IdxArr),
    /// An array on a new axis of size 1 (a 0-d boolean: `x[True]`).
    ArrNew(IdxArr),
}

/// Output shape and source offsets (in `x`'s storage) of `x[keys]`.
fn plan_keys(
    op: &str,
    x: &Layout,
    keys: Vec<PKey>,
    mode: Mode,
    shapes_only: bool,
) -> Result<(Shape, Vec<usize>)> {
    let nd = x.ndim();
    let consumed = keys
        .iter()
        .filter(|k| {
            matches!(
                k,
                PKey::Arr(_) | PKey::Basic(IndexItem::Int(_)) | PKey::Basic(IndexItem::Slice(..))
            )
        })
        .count();
    let has_arrays = keys
        .iter()
        .any(|k| matches!(k, PKey::Arr(_) | PKey::ArrNew(_)));
    let basic: Vec<IndexItem> = keys
        .iter()
        .map(|k| match k {
            PKey::Basic(b) => b.clone(),
            PKey::Arr(_) => IndexItem::Slice(None, None, None),
            PKey::ArrNew(_) => IndexItem::NewAxis,
        })
        .collect();
    let view = index_layout(x, &basic).map_err(|e| match e {
        Error::Index { msg, .. } => Error::index(op, msg),
        e => e,
    })?;
    // Where each array lands in the view, and which input axis it indexes.
    let mut arr_dims: Vec<(usize, usize, IdxArr)> = Vec::new(); // (view dim, input axis, values)
    let mut pos = 0usize;
    let mut dim = 0usize;
    let mut first_adv: Option<usize> = None; // view position of the first advanced item
    let mut adv_items: Vec<usize> = Vec::new(); // key positions of advanced items
    for (ki, k) in keys.into_iter().enumerate() {
        let advanced = has_arrays
            && matches!(
                k,
                PKey::Arr(_) | PKey::ArrNew(_) | PKey::Basic(IndexItem::Int(_))
            );
        if advanced {
            first_adv.get_or_insert(pos);
            adv_items.push(ki);
        }
        match k {
            PKey::Basic(IndexItem::Int(_)) => dim += 1,
            PKey::Basic(IndexItem::Slice(..)) => {
                pos += 1;
                dim += 1
            }
            PKey::Basic(IndexItem::NewAxis) => pos += 1,
            PKey::Basic(IndexItem::Ellipsis) => {
                let skip = nd.saturating_sub(consumed);
                pos += skip;
                dim += skip;
            }
            PKey::Arr(a) => {
                arr_dims.push((pos, dim, a));
                pos += 1;
                dim += 1;
            }
            PKey::ArrNew(a) => {
                arr_dims.push((pos, usize::MAX, a));
                pos += 1;
            }
        }
    }
    if !has_arrays {
        // Only basic items: the view itself, copied.
        let offs = if shapes_only {
            Vec::new()
        } else {
            view.offsets().collect()
        };
        return Ok((view.shape.clone(), offs));
    }
    let adjacent = adv_items.windows(2).all(|w| w[1] == w[0] + 1);
    // Broadcast the index arrays.
    let mut bshape: Shape = Vec::new();
    for (_, _, a) in &arr_dims {
        bshape = broadcast_shapes(op, &bshape, &a.shape).map_err(|_| {
            let s: Vec<String> = arr_dims
                .iter()
                .map(|(_, _, a)| {
                    let d: Vec<String> = a.shape.iter().map(|d| d.to_string()).collect();
                    if d.len() == 1 {
                        format!("({},)", d[0])
                    } else {
                        format!("({})", d.join(","))
                    }
                })
                .collect();
            Error::index(
                op,
                format!(
                    "shape mismatch: indexing arrays could not be broadcast together with shapes {}",
                    s.join(" ")
                ),
            )
        })?;
    }
    // The rest of the view: its dims that no array indexes.
    let is_arr: Vec<bool> = (0..view.ndim())
        .map(|d| arr_dims.iter().any(|(p, _, _)| *p == d))
        .collect();
    let rest: Vec<(usize, isize)> = (0..view.ndim())
        .filter(|&d| !is_arr[d])
        .map(|d| (view.shape[d], view.strides[d]))
        .collect();
    let p = if adjacent {
        let f = first_adv.unwrap_or(0);
        (0..f).filter(|&d| !is_arr[d]).count()
    } else {
        0
    };
    let mut out_shape: Shape = rest[..p].iter().map(|r| r.0).collect();
    out_shape.extend(&bshape);
    out_shape.extend(rest[p..].iter().map(|r| r.0));
    if shapes_only {
        return Ok((out_shape, Vec::new()));
    }
    // Offset contributed by the arrays, per broadcast position.
    let nb = numel(&bshape);
    let mut adv = vec![0isize; nb];
    for (vd, axis, a) in &arr_dims {
        let n = view.shape[*vd];
        let stride = view.strides[*vd];
        let bl = Layout::contiguous(&a.shape).broadcast_to(op, &bshape)?;
        for (slot, o) in adv.iter_mut().zip(bl.offsets()) {
            let j = norm_index(op, a.values[o], n, *axis, mode)?;
            *slot += j as isize * stride;
        }
    }
    let pre_shape: Vec<usize> = rest[..p].iter().map(|r| r.0).collect();
    let pre_str: Vec<isize> = rest[..p].iter().map(|r| r.1).collect();
    let post_shape: Vec<usize> = rest[p..].iter().map(|r| r.0).collect();
    let post_str: Vec<isize> = rest[p..].iter().map(|r| r.1).collect();
    let pre = signed_offsets(&pre_shape, &pre_str);
    let post = signed_offsets(&post_shape, &post_str);
    let base = view.offset as isize;
    let mut offs = Vec::with_capacity(numel(&out_shape));
    for &a in &pre {
        for &b in &adv {
            for &c in &post {
                offs.push((base + a + b + c) as usize);
            }
        }
    }
    Ok((out_shape, offs))
}

impl Spec {
    fn op_name(&self) -> &'static str {
        match self {
            Spec::Index(_) => "advanced_index",
            Spec::Take { .. } => "take",
            Spec::Pick { .. } => "pick",
            Spec::Mask { .. } => "boolean_mask",
        }
    }

    fn n_arrays(&self) -> usize {
        match self {
            Spec::Index(k) => k.iter().filter(|k| **k == Key::Array).count(),
            _ => 1,
        }
    }

    fn attrs(&self) -> Attrs {
        match self {
            Spec::Index(k) => Attrs::new().with("key", Attr::Ints(encode_keys(k))),
            Spec::Take { axis, mode } => Attrs::new()
                .with("axis", axis.map_or(Attr::None, Attr::Int))
                .with("mode", Attr::Str(mode.name().into())),
            Spec::Pick {
                axis,
                keepdims,
                mode,
            } => Attrs::new()
                .with("axis", Attr::Int(*axis))
                .with("keepdims", Attr::Bool(*keepdims))
                .with("mode", Attr::Str(mode.name().into())),
            Spec::Mask { axis } => Attrs::new().with("axis", Attr::Int(*axis)),
        }
    }

    /// Output shape and source offsets of the gather from `x` (laid out as `x`) by `idx`.
    /// With `shapes_only`, index values are not read (and boolean masks are refused).
    fn plan(&self, x: &Layout, idx: &[IndexInput]) -> Result<(Shape, Vec<usize>)> {
        let op = self.op_name();
        let shapes_only = idx.iter().any(|i| i.values.is_none());
        let arr = |i: &IndexInput| -> IdxArr {
            IdxArr {
                values: i.values.clone().unwrap_or_default(),
                shape: i.shape.clone(),
            }
        };
        if idx.len() != self.n_arrays() {
            return Err(Error::value(
                op,
                format!(
                    "expected {} index arrays, got {}",
                    self.n_arrays(),
                    idx.len()
                ),
            ));
        }
        match self {
            Spec::Index(keys) => {
                let mut pk = Vec::new();
                let mut it = idx.iter();
                let mut arrays: Vec<&IndexInput> = Vec::new();
                for k in keys {
                    if *k == Key::Array {
                        arrays.push(it.next().expect("counted above"));
                    }
                }
                let n_consumed: usize = {
                    let mut c = 0;
                    let mut ai = 0;
                    for k in keys {
                        match k {
                            Key::Basic(IndexItem::Int(_)) | Key::Basic(IndexItem::Slice(..)) => {
                                c += 1
                            }
                            Key::Array => {
                                c += if arrays[ai].dtype == DType::Bool {
                                    arrays[ai].shape.len()
                                } else {
                                    1
                                };
                                ai += 1;
                            }
                            _ => {}
                        }
                    }
                    c
                };
                let mut dim = 0usize;
                let mut ai = 0;
                for k in keys {
                    match k {
                        Key::Basic(b) => {
                            match b {
                                IndexItem::Int(_) | IndexItem::Slice(..) => dim += 1,
                                IndexItem::Ellipsis => dim += x.ndim().saturating_sub(n_consumed),
                                IndexItem::NewAxis => {}
                            }
                            pk.push(PKey::Basic(b.clone()));
                        }
                        Key::Array => {
                            let a = arrays[ai];
                            ai += 1;
                            if a.dtype != DType::Bool {
                                pk.push(PKey::Arr(arr(a)));
                                dim += 1;
                                continue;
                            }
                            let Some(t) = &a.tensor else {
                                return Err(Error::Unsupported(format!(
                                    "{op}: the shape of a boolean-mask index depends on its values"
                                )));
                            };
                            if a.shape.is_empty() {
                                let on = (t.to_f64_vec()?[0] != 0.0) as usize;
                                pk.push(PKey::ArrNew(IdxArr {
                                    values: vec![0; on],
                                    shape: vec![on],
                                }));
                                continue;
                            }
                            if dim + a.shape.len() > x.ndim() {
                                return Err(Error::index(op, format!("too many indices for array: array is {}-dimensional, but {} were indexed", x.ndim(), n_consumed)));
                            }
                            for (j, &m) in a.shape.iter().enumerate() {
                                let n = x.shape[dim + j];
                                if m != n {
                                    return Err(Error::index(op, format!("boolean index did not match indexed array along axis {}; size of axis is {n} but size of corresponding boolean axis is {m}", dim + j)));
                                }
                            }
                            for c in nonzero_coords(t)? {
                                let n = c.len();
                                pk.push(PKey::Arr(IdxArr {
                                    values: c,
                                    shape: vec![n],
                                }));
                            }
                            dim += a.shape.len();
                        }
                    }
                }
                plan_keys(op, x, pk, Mode::Raise, shapes_only)
            }
            Spec::Take { axis, mode } => match axis {
                Some(a) => {
                    let a = norm_axis(op, *a as isize, x.ndim())?;
                    let mut pk: Vec<PKey> = (0..a)
                        .map(|_| PKey::Basic(IndexItem::Slice(None, None, None)))
                        .collect();
                    pk.push(PKey::Arr(arr(&idx[0])));
                    plan_keys(op, x, pk, *mode, shapes_only)
                }
                None => {
                    let out = idx[0].shape.clone();
                    if shapes_only {
                        return Ok((out, Vec::new()));
                    }
                    let flat: Vec<usize> = x.offsets().collect();
                    let n = flat.len() as i64;
                    let offs = idx[0]
                        .values
                        .as_ref()
                        .expect("values present")
                        .iter()
                        .map(|&i| {
                            let j = norm_index(op, i, flat.len(), 0, *mode).map_err(|_| {
                                Error::index(op, format!("index {i} is out of bounds for size {n}"))
                            })?;
                            Ok(flat[j as usize])
                        })
                        .collect::<Result<Vec<_>>>()?;
                    Ok((out, offs))
                }
            },
            Spec::Pick {
                axis,
                keepdims,
                mode,
            } => {
                let nd = x.ndim();
                let a = norm_axis(op, *axis as isize, nd)?;
                let mut ishape = idx[0].shape.clone();
                if ishape.len() + 1 == nd {
                    ishape.insert(a, 1);
                } else if ishape.len() != nd {
                    return Err(Error::shape(
                        op,
                        format!(
                            "index of shape {:?} does not fit data of shape {:?} along axis {axis}",
                            idx[0].shape, x.shape
                        ),
                    ));
                }
                if ishape
                    .iter()
                    .zip(&x.shape)
                    .enumerate()
                    .any(|(d, (&i, &n))| d != a && i != n && i != 1)
                    || ishape[a] != 1
                {
                    return Err(Error::shape(
                        op,
                        format!(
                            "index of shape {:?} does not fit data of shape {:?} along axis {axis}",
                            idx[0].shape, x.shape
                        ),
                    ));
                }
                let mut pk = Vec::new();
                for d in 0..nd {
                    if d == a {
                        pk.push(PKey::Arr(IdxArr {
                            values: idx[0].values.clone().unwrap_or_default(),
                            shape: ishape.clone(),
                        }));
                    } else {
                        let mut s = vec![1; nd];
                        s[d] = x.shape[d];
                        pk.push(PKey::Arr(IdxArr {
                            values: (0..x.shape[d] as i64).collect(),
                            shape: s,
                        }));
                    }
                }
                let (mut shape, offs) = plan_keys(op, x, pk, *mode, shapes_only)?;
                let mut want = x.shape.clone();
                want[a] = 1;
                if shape != want {
                    return Err(Error::shape(
                        op,
                        format!(
                            "index of shape {:?} does not fit data of shape {:?} along axis {axis}",
                            idx[0].shape, x.shape
                        ),
                    ));
                }
                if !keepdims {
                    shape.remove(a);
                }
                Ok((shape, offs))
            }
            Spec::Mask { axis } => {
                let a = norm_axis(op, *axis as isize, x.ndim())?;
                if idx[0].shape.len() != 1 || idx[0].shape[0] != x.shape[a] {
                    return Err(Error::shape(
                        op,
                        format!(
                            "mask of shape {:?} does not fit data of shape {:?} along axis {a}",
                            idx[0].shape, x.shape
                        ),
                    ));
                }
                let Some(t) = &idx[0].tensor else {
                    return Err(Error::Unsupported(format!(
                        "{op}: the output shape depends on the mask's values"
                    )));
                };
                let c = nonzero_coords(t)?.swap_remove(0);
                let n = c.len();
                let mut pk: Vec<PKey> = (0..a)
                    .map(|_| PKey::Basic(IndexItem::Slice(None, None, None)))
                    .collect();
                pk.push(PKey::Arr(IdxArr {
                    values: c,
                    shape: vec![n],
                }));
                plan_keys(op, x, pk, Mode::Raise, shapes_only)
            }
        }
    }

    fn allow_float(&self) -> bool {
        !matches!(self, Spec::Index(_))
    }
}

/// An index input as the planner sees it.
struct IndexInput {
    shape: Shape,
    dtype: DType,
    values: Option<Vec<i64>>,
    tensor: Option<Tensor>,
}

fn index_inputs(spec: &Spec, ts: &[Tensor]) -> Result<Vec<IndexInput>> {
    let op = spec.op_name();
    ts.iter()
        .map(|t| {
            let is_mask = t.dtype() == DType::Bool && !matches!(spec, Spec::Take { .. });
            Ok(IndexInput {
                shape: t.shape().clone(),
                dtype: t.dtype(),
                values: if is_mask {
                    Some(Vec::new())
                } else {
                    Some(int_values(op, t, spec.allow_float())?)
                },
                tensor: Some(t.clone()),
            })
        })
        .collect()
}

fn meta_inputs(spec: &Spec, ms: &[Meta]) -> Result<Vec<IndexInput>> {
    let op = spec.op_name();
    ms.iter()
        .map(|m| {
            if m.dtype.is_float() && !spec.allow_float() {
                return Err(Error::index(
                    op,
                    "arrays used as indices must be of integer (or boolean) type",
                ));
            }
            Ok(IndexInput {
                shape: m.shape.clone(),
                dtype: m.dtype,
                values: None,
                tensor: None,
            })
        })
        .collect()
}

fn gather_storage(x: &Tensor, offs: &[usize], shape: &[usize]) -> Result<Tensor> {
    let st = x.storage()?;
    let data = with_dtype!(x.dtype(), T, {
        let s = T::slice(st.cpu("gather")?);
        T::wrap(offs.iter().map(|&o| s[o]).collect())
    });
    Tensor::from_cpu(data, shape)
}

/// A gather: `x[key]`, `take`, `pick`, `boolean_mask`. Inputs: `[x, index arrays...]`.
pub struct Gather(pub Spec);

impl Op for Gather {
    fn name(&self) -> &'static str {
        self.0.op_name()
    }
    fn mxnet_name(&self) -> &'static str {
        match self.0 {
            Spec::Index(_) => "_npi_advanced_indexing_multiple",
            Spec::Take { .. } => "take",
            Spec::Pick { .. } => "pick",
            Spec::Mask { .. } => "_contrib_boolean_mask",
        }
    }
    fn attrs(&self) -> Attrs {
        self.0.attrs()
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let idx = meta_inputs(&self.0, &i[1..])?;
        let (shape, _) = self.0.plan(&Layout::contiguous(&i[0].shape), &idx)?;
        Ok(vec![Meta::new(shape, i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let idx = index_inputs(&self.0, &x[1..])?;
        let (shape, offs) = self.0.plan(x[0].layout(), &idx)?;
        Ok(vec![gather_storage(&x[0], &offs, &shape)?])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let x = ctx.input(0);
        let mut ins: Vec<&Tensor> = vec![&g];
        ins.extend(ctx.inputs[1..].iter());
        let gx = apply1(
            Arc::new(GatherGrad {
                spec: self.0.clone(),
                shape: x.shape().clone(),
            }),
            &ins,
        )?;
        let mut out = vec![Some(gx)];
        out.extend((1..ctx.inputs.len()).map(|_| None));
        Ok(out)
    }
}

/// The gradient of a gather: `g` added into zeros of the input's shape at the gathered places
/// (repeated indices accumulate). Inputs: `[g, index arrays...]`.
pub struct GatherGrad {
    pub spec: Spec,
    pub shape: Shape,
}

impl Op for GatherGrad {
    fn name(&self) -> &'static str {
        "gather_grad"
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![Meta::new(self.shape.clone(), i[0].dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let g = &x[0];
        let idx = index_inputs(&self.spec, &x[1..])?;
        let (shape, offs) = self.spec.plan(&Layout::contiguous(&self.shape), &idx)?;
        if shape.as_slice() != g.shape().as_slice() {
            return Err(Error::shapes(
                "gather_grad",
                &[g.shape(), &shape],
                "the gradient must have the gathered shape",
            ));
        }
        let gs = g.storage()?;
        let data = with_dtype!(g.dtype(), T, {
            let gv = crate::backend::cpu::gather(T::slice(gs.cpu("gather_grad")?), g.layout());
            let mut acc = vec![0f64; numel(&self.shape)];
            for (&o, v) in offs.iter().zip(gv) {
                acc[o] += v.to_f64();
            }
            T::wrap(acc.into_iter().map(T::from_f64).collect())
        });
        Ok(vec![
            Tensor::from_cpu(data, &self.shape)?.to_device(g.device())?
        ])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let gg = g[0].clone().expect("single output");
        let mut ins: Vec<&Tensor> = vec![&gg];
        ins.extend(ctx.inputs[1..].iter());
        let out = apply1(Arc::new(Gather(self.spec.clone())), &ins)?;
        let mut res = vec![Some(out)];
        res.extend((1..ctx.inputs.len()).map(|_| None));
        Ok(res)
    }
}

/// `x[key] = value` in place (repeated indices: the last write wins). Inputs:
/// `[x, value, index arrays...]`; returns `x`. Never recorded.
pub struct SetItem(pub Spec);

impl Op for SetItem {
    fn name(&self) -> &'static str {
        "advanced_setitem"
    }
    fn attrs(&self) -> Attrs {
        self.0.attrs()
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        Ok(vec![i[0].clone()])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let (dst, v) = (&x[0], &x[1]);
        let idx = index_inputs(&self.0, &x[2..])?;
        let (shape, offs) = self.0.plan(dst.layout(), &idx)?;
        let v = if v.dtype() != dst.dtype() {
            v.cast_copy(dst.dtype())?
        } else {
            v.clone()
        };
        let vl = v.layout().broadcast_to("setitem", &shape).map_err(|_| {
            Error::shape(
                "setitem",
                format!(
                    "shape mismatch: value array of shape {:?} could not be broadcast to indexing result of shape {:?}",
                    v.shape(),
                    shape
                ),
            )
        })?;
        let vals = {
            let vs = v.storage()?;
            with_dtype!(v.dtype(), T, {
                T::wrap(crate::backend::cpu::gather(
                    T::slice(vs.cpu("setitem")?),
                    &vl,
                ))
            })
        };
        let mut ds = dst.storage_mut()?;
        with_dtype!(dst.dtype(), T, {
            let d = T::slice_mut(ds.cpu_mut("setitem")?);
            for (&o, &val) in offs.iter().zip(T::slice(&vals)) {
                d[o] = val;
            }
        });
        Ok(vec![dst.clone()])
    }
    fn backward(&self, _ctx: &Ctx, _g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        Err(Error::Autograd(
            "advanced_setitem is not differentiable".into(),
        ))
    }
}

/// `nonzero(x)`: the indices of the non-zero elements, one int64 array a dimension.
pub struct Nonzero;

impl Op for Nonzero {
    fn name(&self) -> &'static str {
        "nonzero"
    }
    fn mxnet_name(&self) -> &'static str {
        "_npi_nonzero"
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn infer(&self, _i: &[Meta]) -> Result<Vec<Meta>> {
        Err(Error::Unsupported(
            "nonzero: the output shape depends on the values".into(),
        ))
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        if x[0].ndim() == 0 {
            return Err(Error::value(
                "nonzero",
                "Calling nonzero on 0d arrays is not allowed. Use np.atleast_1d(scalar).nonzero() instead.",
            ));
        }
        nonzero_coords(&x[0])?
            .into_iter()
            .map(|c| {
                let n = c.len();
                Tensor::from_vec(c, &[n])?.to_device(x[0].device())
            })
            .collect()
    }
}

/// `one_hot(indices, depth, on_value, off_value, dtype)`: out-of-range indices give rows of
/// `off_value`.
pub struct OneHot {
    pub depth: usize,
    pub on: f64,
    pub off: f64,
    pub dtype: DType,
}

impl Op for OneHot {
    fn name(&self) -> &'static str {
        "one_hot"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("depth", Attr::Int(self.depth as i64))
            .with("on_value", Attr::Float(self.on))
            .with("off_value", Attr::Float(self.off))
            .with("dtype", Attr::Str(self.dtype.name().into()))
    }
    fn differentiable(&self) -> bool {
        false
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let mut s = i[0].shape.clone();
        s.push(self.depth);
        Ok(vec![Meta::new(s, self.dtype)])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let m = self.infer(&[Meta::of(&x[0])])?.swap_remove(0);
        let idx = int_values("one_hot", &x[0], true)?;
        let d = self.depth;
        let data = with_dtype!(self.dtype, T, {
            let mut v = vec![T::from_f64(self.off); idx.len() * d];
            let on = T::from_f64(self.on);
            for (r, &i) in idx.iter().enumerate() {
                if i >= 0 && (i as usize) < d {
                    v[r * d + i as usize] = on;
                }
            }
            T::wrap(v)
        });
        Ok(vec![
            Tensor::from_cpu(data, &m.shape)?.to_device(x[0].device())?
        ])
    }
}

impl Tensor {
    /// `x[key]` with index arrays (recorded).
    pub fn advanced_index(&self, keys: Vec<Key>, arrays: &[&Tensor]) -> Result<Tensor> {
        let mut ins = vec![self];
        ins.extend(arrays.iter().copied());
        apply1(Arc::new(Gather(Spec::Index(keys))), &ins)
    }
    /// `take(x, idx, axis, mode)` (recorded).
    pub fn take(&self, idx: &Tensor, axis: Option<i64>, mode: Mode) -> Result<Tensor> {
        apply1(Arc::new(Gather(Spec::Take { axis, mode })), &[self, idx])
    }
}

fn mode_attr(a: &Attrs, op: &str, default: &str) -> Result<Mode> {
    Mode::parse(op, &a.str("mode", default))
}

pub fn register(r: &mut Registry) {
    fn adv(a: &Attrs) -> Result<Arc<dyn Op>> {
        let code = a.ints("advanced_index", "key", &[])?;
        Ok(Arc::new(Gather(Spec::Index(decode_keys(
            "advanced_index",
            &code,
        )?))))
    }
    r.insert("advanced_index", adv);
    r.insert("_npi_advanced_indexing_multiple", adv);
    r.insert("advanced_setitem", |a| {
        let code = a.ints("advanced_setitem", "key", &[])?;
        Ok(Arc::new(SetItem(Spec::Index(decode_keys(
            "advanced_setitem",
            &code,
        )?))))
    });
    fn take(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(Gather(Spec::Take {
            axis: a.opt_int("take", "axis")?,
            mode: mode_attr(a, "take", "clip")?,
        })))
    }
    r.insert("take", take);
    r.insert("_npi_take", take);
    fn pick(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(Gather(Spec::Pick {
            axis: a.int("pick", "axis", -1)?,
            keepdims: a.bool("pick", "keepdims", false)?,
            mode: mode_attr(a, "pick", "clip")?,
        })))
    }
    r.insert("pick", pick);
    r.insert("_npx_pick", pick);
    fn mask(a: &Attrs) -> Result<Arc<dyn Op>> {
        Ok(Arc::new(Gather(Spec::Mask {
            axis: a.int("boolean_mask", "axis", 0)?,
        })))
    }
    r.insert("boolean_mask", mask);
    r.insert("_contrib_boolean_mask", mask);
    r.insert("nonzero", |_| Ok(Arc::new(Nonzero)));
    r.insert("_npi_nonzero", |_| Ok(Arc::new(Nonzero)));
    fn one_hot(a: &Attrs) -> Result<Arc<dyn Op>> {
        let op = "one_hot";
        let depth = a.req_int(op, "depth")?;
        if depth < 0 {
            return Err(Error::value(op, format!("depth {depth} is negative")));
        }
        Ok(Arc::new(OneHot {
            depth: depth as usize,
            on: a.float(op, "on_value", 1.0)?,
            off: a.float(op, "off_value", 0.0)?,
            dtype: a.opt_dtype(op, "dtype")?.unwrap_or(DType::F32),
        }))
    }
    r.insert("one_hot", one_hot);
    r.insert("_npx_one_hot", one_hot);
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn mixed_keys_place_advanced_dims_as_numpy() {
        let x = Tensor::from_vec((0..24).map(|v| v as f32).collect(), &[2, 3, 4]).unwrap();
        let i = Tensor::from_vec(vec![0i64, 2], &[2]).unwrap();
        // x[:, [0, 2], 1] -> adjacent (array, int): shape [2, 2]
        let y = x
            .advanced_index(
                vec![
                    Key::Basic(IndexItem::Slice(None, None, None)),
                    Key::Array,
                    Key::Basic(IndexItem::Int(1)),
                ],
                &[&i],
            )
            .unwrap();
        assert_eq!(y.shape(), &vec![2, 2]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![1., 9., 13., 21.]);
        // x[[0, 1], :, 0]: separated -> advanced first, shape [2, 3]
        let j = Tensor::from_vec(vec![0i64, -1], &[2]).unwrap();
        let y = x
            .advanced_index(
                vec![
                    Key::Array,
                    Key::Basic(IndexItem::Slice(None, None, None)),
                    Key::Basic(IndexItem::Int(0)),
                ],
                &[&j],
            )
            .unwrap();
        assert_eq!(y.shape(), &vec![2, 3]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![0., 4., 8., 12., 16., 20.]);
        let bad = Tensor::from_vec(vec![5i64], &[1]).unwrap();
        assert!(matches!(
            x.advanced_index(vec![Key::Array], &[&bad]),
            Err(Error::Index { .. })
        ));
    }
}
