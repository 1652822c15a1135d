//! Reductions over axes.
use super::{apply1, Attr, Attrs, Ctx, Meta, Op, Registry};
use crate::backend::cpu;
use crate::layout::{norm_axis, Layout};
use crate::storage::{CpuElement, CpuStorage};
use crate::{DType, Error, Result, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

/// Normalised, sorted, de-duplicated reduction axes (`None`: all).
pub fn reduce_axes(op: &str, axes: Option<&[i64]>, ndim: usize) -> Result<Vec<usize>> {
    let mut v: Vec<usize> = match axes {
        None => (0..ndim).collect(),
        Some(a) => a
            .iter()
            .map(|&x| norm_axis(op, x as isize, ndim))
            .collect::<Result<_>>()?,
    };
    v.sort_unstable();
    let n = v.len();
    v.dedup();
    if v.len() != n {
        return Err(Error::value(op, "duplicate value in 'axis'"));
    }
    Ok(v)
}

/// The output shape of a reduction.
pub fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| {
            if axes.contains(&i) {
                keepdims.then_some(1)
            } else {
                Some(d)
            }
        })
        .collect()
}

/// Calls `f(row)` for each output element with the contiguous run of elements it reduces over
/// (reduced axes moved last), in output order, in parallel when large.
pub fn for_each_group<T: Copy + Send + Sync, R: Send, F>(
    data: &[T],
    l: &Layout,
    axes: &[usize],
    f: F,
) -> Vec<R>
where
    F: Fn(&[T]) -> R + Sync + Send,
{
    let kept: Vec<usize> = (0..l.ndim()).filter(|i| !axes.contains(i)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes.iter()).cloned().collect();
    let pl = l.permute("reduce", &perm).expect("a permutation");
    let inner: usize = axes.iter().map(|&a| l.shape[a]).product();
    let outer: usize = kept.iter().map(|&a| l.shape[a]).product();
    if inner == 0 {
        return (0..outer).map(|_| f(&[])).collect();
    }
    cpu::with_contiguous(data, &pl, |c| {
        if cpu::parallel(c.len()) && outer > 1 {
            c.par_chunks(inner).map(&f).collect()
        } else {
            c.chunks(inner).map(&f).collect()
        }
    })
}

/// Sum of a float slice with independent lanes, so that it vectorises.
fn sum_lanes<T: Copy + Default + std::ops::Add<Output = T>>(s: &[T]) -> T {
    let mut acc = [T::default(); 16];
    let chunks = s.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..16 {
            acc[i] = acc[i] + c[i];
        }
    }
    let mut t = T::default();
    for a in acc {
        t = t + a;
    }
    for &v in rest {
        t = t + v;
    }
    t
}

fn sum_storage(x: &Tensor, axes: &[usize], out: DType) -> Result<CpuStorage> {
    let xc = if x.dtype() == out {
        x.clone()
    } else {
        x.cast_copy(out)?
    };
    let st = xc.storage()?;
    let c = st.cpu("sum")?;
    let l = xc.layout();
    Ok(match out {
        DType::F32 => CpuStorage::F32(for_each_group(f32::slice(c), l, axes, sum_lanes)),
        DType::F64 => CpuStorage::F64(for_each_group(f64::slice(c), l, axes, sum_lanes)),
        DType::I64 => CpuStorage::I64(for_each_group(i64::slice(c), l, axes, |r| {
            r.iter().fold(0i64, |a, &b| a.wrapping_add(b))
        })),
        DType::I32 => CpuStorage::I32(for_each_group(i32::slice(c), l, axes, |r| {
            r.iter().fold(0i32, |a, &b| a.wrapping_add(b))
        })),
        DType::U8 => CpuStorage::U8(for_each_group(u8::slice(c), l, axes, |r| {
            r.iter().fold(0u8, |a, &b| a.wrapping_add(b))
        })),
        DType::I8 => CpuStorage::I8(for_each_group(i8::slice(c), l, axes, |r| {
            r.iter().fold(0i8, |a, &b| a.wrapping_add(b))
        })),
        DType::Bool => CpuStorage::Bool(for_each_group(bool::slice(c), l, axes, |r| {
            r.iter().any(|&b| b)
        })),
        d => return Err(Error::unsupported_dtype("sum", d)),
    })
}

/// NumPy's accumulator type for sums: small integers and booleans sum as int64.
pub fn sum_dtype(x: DType) -> DType {
    match x {
        DType::Bool | DType::U8 | DType::I8 | DType::I32 => DType::I64,
        d => d,
    }
}

/// `sum(x, axis, keepdims, dtype)`.
pub struct Sum {
    pub axes: Option<Vec<i64>>,
    pub keepdims: bool,
    pub dtype: Option<DType>,
}

impl Op for Sum {
    fn name(&self) -> &'static str {
        "sum"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with(
                "axis",
                self.axes
                    .as_ref()
                    .map_or(Attr::None, |a| Attr::Ints(a.clone())),
            )
            .with("keepdims", Attr::Bool(self.keepdims))
    }
    fn infer(&self, i: &[Meta]) -> Result<Vec<Meta>> {
        let axes = reduce_axes("sum", self.axes.as_deref(), i[0].shape.len())?;
        Ok(vec![Meta::new(
            reduced_shape(&i[0].shape, &axes, self.keepdims),
            self.dtype.unwrap_or(sum_dtype(i[0].dtype)),
        )])
    }
    fn forward(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let m = self.infer(&[Meta::of(&x[0])])?.swap_remove(0);
        let axes = reduce_axes("sum", self.axes.as_deref(), x[0].ndim())?;
        // Half floats accumulate in float32.
        let work = if matches!(m.dtype, DType::F16 | DType::BF16) {
            DType::F32
        } else {
            m.dtype
        };
        let data = sum_storage(&x[0], &axes, work)?;
        let t = Tensor::from_cpu(data, &m.shape)?;
        Ok(vec![if work != m.dtype {
            t.cast_copy(m.dtype)?
        } else {
            t
        }])
    }
    fn backward(&self, ctx: &Ctx, g: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let g = g[0].clone().expect("single output");
        let x = ctx.input(0);
        let axes = reduce_axes("sum", self.axes.as_deref(), x.ndim())?;
        let kept = g.reshape(&reduced_shape(x.shape(), &axes, true))?;
        Ok(vec![Some(kept.broadcast_to(x.shape())?.cast(x.dtype())?)])
    }
}

impl Tensor {
    pub fn sum_axes(&self, axes: &[isize], keepdims: bool) -> Result<Tensor> {
        let axes = axes.iter().map(|&a| a as i64).collect();
        apply1(
            Arc::new(Sum {
                axes: Some(axes),
                keepdims,
                dtype: None,
            }),
            &[self],
        )
    }
}

pub fn register(r: &mut Registry) {
    r.insert("sum", |a| {
        Ok(Arc::new(Sum {
            axes: a.opt_ints("sum", "axis")?,
            keepdims: a.bool("sum", "keepdims", false)?,
            dtype: a.opt_dtype("sum", "dtype")?,
        }))
    });
}
