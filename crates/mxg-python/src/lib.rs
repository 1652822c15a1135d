//! The `mxgluon._core` module: type conversion and error mapping around mxg-core, no numerics.
use mxg_core::autograd::{self, GradReq};
use mxg_core::graph::trace;
use mxg_core::ops::view::IndexItem;
use mxg_core::ops::{self, Attr, Attrs};
use mxg_core::{CpuStorage, DType, Device, Error, Tensor};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyEllipsis, PyFloat, PyInt, PyList, PySlice, PyString, PyTuple};

mod dlpack;
mod errors;
mod function;
mod graph;
mod io;
use errors::{guard, to_py};

/// A handle on a core tensor. The Python `ndarray` classes wrap it.
#[pyclass(name = "Tensor", module = "mxgluon._core", frozen)]
pub struct PyTensor {
    pub t: Tensor,
}

pub(crate) fn wrap(t: Tensor) -> PyTensor {
    PyTensor { t }
}

pub fn parse_dtype(s: &str) -> PyResult<DType> {
    DType::from_name(s).ok_or_else(|| {
        to_py(Error::dtype(
            "dtype",
            format!("data type {s:?} is not supported"),
        ))
    })
}

fn parse_device(kind: &str, id: usize) -> PyResult<Device> {
    match kind {
        "cpu" | "cpu_pinned" | "cpu_shared" => Ok(Device::Cpu(id)),
        "gpu" | "cuda" => Ok(Device::Gpu(id)),
        _ => Err(to_py(Error::value(
            "device",
            format!("unknown device type {kind:?}"),
        ))),
    }
}

/// Python values to op attributes.
fn to_attr(v: &Bound<'_, PyAny>) -> PyResult<Attr> {
    if v.is_none() {
        return Ok(Attr::None);
    }
    if v.is_instance_of::<PyBool>() {
        return Ok(Attr::Bool(v.extract()?));
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(Attr::Int(v.extract()?));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(Attr::Float(v.extract()?));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(Attr::Str(v.extract()?));
    }
    if v.is_instance_of::<PyTuple>() || v.is_instance_of::<PyList>() {
        let items: Vec<Bound<PyAny>> = v.try_iter()?.collect::<PyResult<_>>()?;
        if items
            .iter()
            .all(|i| i.is_instance_of::<PyInt>() && !i.is_instance_of::<PyBool>())
        {
            return Ok(Attr::Ints(
                items.iter().map(|i| i.extract()).collect::<PyResult<_>>()?,
            ));
        }
        return Ok(Attr::Floats(
            items.iter().map(|i| i.extract()).collect::<PyResult<_>>()?,
        ));
    }
    // NumPy scalars and anything else number-like.
    if let Ok(i) = v.call_method0("__index__").and_then(|i| i.extract::<i64>()) {
        return Ok(Attr::Int(i));
    }
    if let Ok(f) = v.extract::<f64>() {
        return Ok(Attr::Float(f));
    }
    Ok(Attr::Str(v.str()?.to_string()))
}

pub(crate) fn to_attrs(d: Option<&Bound<'_, PyDict>>) -> PyResult<Attrs> {
    let mut a = Attrs::new();
    if let Some(d) = d {
        for (k, v) in d.iter() {
            a.set(&k.extract::<String>()?, to_attr(&v)?);
        }
    }
    Ok(a)
}

fn tensors(v: &[PyRef<'_, PyTensor>]) -> Vec<Tensor> {
    v.iter().map(|t| t.t.clone()).collect()
}

/// Large work releases the GIL.
const DETACH_NUMEL: usize = 1 << 16;

#[pymethods]
impl PyTensor {
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.t.shape())
    }
    #[getter]
    fn dtype(&self) -> &'static str {
        self.t.dtype().name()
    }
    #[getter]
    fn ndim(&self) -> usize {
        self.t.ndim()
    }
    #[getter]
    fn size(&self) -> usize {
        self.t.numel()
    }
    #[getter]
    fn device(&self) -> (&'static str, usize) {
        match self.t.device() {
            Device::Cpu(i) => ("cpu", i),
            Device::Gpu(i) => ("gpu", i),
        }
    }
    /// Strides in bytes (may be 0 or negative).
    #[getter]
    fn strides(&self) -> Vec<isize> {
        let s = self.t.dtype().size() as isize;
        self.t.layout().strides.iter().map(|&x| x * s).collect()
    }
    #[getter]
    fn is_contiguous(&self) -> bool {
        self.t.is_contiguous()
    }
    /// Address of the first element (CPU only).
    fn data_ptr(&self) -> PyResult<usize> {
        guard(|| {
            trace::refuse(&self.t, "data_ptr")?;
            self.t.data_ptr()
        })
    }
    /// Same storage as `other`.
    fn shares_memory(&self, other: PyRef<'_, PyTensor>) -> bool {
        self.t.same_storage(&other.t)
    }
    /// An id of the underlying handle.
    fn id(&self) -> usize {
        self.t.id()
    }
    /// NumPy's array interface: zero-copy access to CPU data (this object keeps the storage alive).
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let typestr = match self.t.dtype() {
            DType::Bool => "|b1",
            DType::U8 => "|u1",
            DType::I8 => "|i1",
            DType::I32 => "<i4",
            DType::I64 => "<i8",
            DType::F16 => "<f2",
            DType::F32 => "<f4",
            DType::F64 => "<f8",
            DType::BF16 => {
                return Err(to_py(Error::dtype(
                    "asnumpy",
                    "NumPy has no bfloat16: cast with astype('float32') first",
                )))
            }
        };
        guard(|| trace::refuse(&self.t, "reading the values (asnumpy, item, bool, ...)"))?;
        let d = PyDict::new(py);
        let ptr = if self.t.numel() == 0 {
            0
        } else {
            guard(|| self.t.data_ptr())?
        };
        d.set_item("data", (ptr, false))?;
        d.set_item("shape", PyTuple::new(py, self.t.shape())?)?;
        d.set_item("strides", PyTuple::new(py, self.strides())?)?;
        d.set_item("typestr", typestr)?;
        d.set_item("version", 3)?;
        Ok(d)
    }
    /// The elements as a flat list of Python floats or ints (row-major).
    fn tolist_flat<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let t = &self.t;
        guard(|| trace::refuse(t, "reading the values (tolist)"))?;
        match t.dtype() {
            DType::Bool => PyList::new(py, guard(|| t.to_vec::<bool>())?),
            d if d.is_float() => PyList::new(py, guard(|| t.to_f64_vec())?),
            _ => PyList::new(py, guard(|| t.to_f64_vec())?.into_iter().map(|v| v as i64)),
        }
    }
}

#[pyfunction]
fn set_exceptions(
    base: Bound<'_, PyAny>,
    value: Bound<'_, PyAny>,
    type_: Bound<'_, PyAny>,
    index: Bound<'_, PyAny>,
) -> PyResult<()> {
    errors::set_classes(base, value, type_, index)
}

/// A contiguous tensor copied from `nbytes` at `address` (a live C-contiguous buffer).
#[pyfunction]
#[pyo3(signature = (address, dtype, shape, device=(String::from("cpu"), 0)))]
fn from_address(
    address: usize,
    dtype: &str,
    shape: Vec<usize>,
    device: (String, usize),
) -> PyResult<PyTensor> {
    let dt = parse_dtype(dtype)?;
    let dev = parse_device(&device.0, device.1)?;
    let n: usize = shape.iter().product::<usize>() * dt.size();
    let bytes: &[u8] = if n == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(address as *const u8, n) }
    };
    guard(|| Tensor::from_cpu(CpuStorage::from_bytes(dt, bytes)?, &shape)?.to_device(dev)).map(wrap)
}

#[pyfunction]
#[pyo3(signature = (shape, value, dtype, device=(String::from("cpu"), 0)))]
fn full(shape: Vec<usize>, value: f64, dtype: &str, device: (String, usize)) -> PyResult<PyTensor> {
    let dt = parse_dtype(dtype)?;
    let dev = parse_device(&device.0, device.1)?;
    guard(|| Tensor::full(&shape, value, dt, dev)).map(wrap)
}

/// Run the registered op `name`. Returns a tensor, or a tuple for several outputs.
#[pyfunction]
#[pyo3(signature = (name, inputs, attrs=None))]
fn invoke(
    py: Python<'_>,
    name: &str,
    inputs: Vec<PyRef<'_, PyTensor>>,
    attrs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    let attrs = to_attrs(attrs)?;
    let ins = tensors(&inputs);
    let big = ins.iter().map(|t| t.numel()).sum::<usize>() >= DETACH_NUMEL;
    let run = || guard(|| ops::invoke(name, &ins.iter().collect::<Vec<_>>(), &attrs));
    let outs = if big { py.detach(run)? } else { run()? };
    outputs(py, outs)
}

pub(crate) fn outputs(py: Python<'_>, mut outs: Vec<Tensor>) -> PyResult<Py<PyAny>> {
    if outs.len() == 1 {
        return Ok(Py::new(py, wrap(outs.swap_remove(0)))?.into_any());
    }
    let items: Vec<Py<PyTensor>> = outs
        .into_iter()
        .map(|t| Py::new(py, wrap(t)))
        .collect::<PyResult<_>>()?;
    Ok(PyTuple::new(py, items)?.into_any().unbind())
}

/// Binary op on two tensors (the hot path of `a + b`): `op` is a registry name without attributes.
#[pyfunction]
fn binary(
    py: Python<'_>,
    op: &str,
    a: PyRef<'_, PyTensor>,
    b: PyRef<'_, PyTensor>,
) -> PyResult<PyTensor> {
    let (a, b) = (a.t.clone(), b.t.clone());
    let run = || guard(|| ops::apply1(ops::build(op, &Attrs::new())?, &[&a, &b]));
    let t = if a.numel() + b.numel() >= DETACH_NUMEL {
        py.detach(run)?
    } else {
        run()?
    };
    Ok(wrap(t))
}

/// `x op scalar` (or `scalar op x` when `reverse`); an int scalar keeps integer arrays integer.
#[pyfunction]
fn scalar_op(
    op: &str,
    x: PyRef<'_, PyTensor>,
    scalar: &Bound<'_, PyAny>,
    reverse: bool,
) -> PyResult<PyTensor> {
    let is_int = scalar.is_instance_of::<PyInt>();
    let s: f64 = scalar.extract()?;
    let bin = ops::elementwise::Bin::from_name(op)
        .ok_or_else(|| to_py(Error::value("scalar_op", format!("unknown op {op:?}"))))?;
    guard(|| {
        ops::apply1(
            std::sync::Arc::new(ops::elementwise::BinaryScalar {
                op: bin,
                scalar: s,
                reverse,
                is_int,
            }),
            &[&x.t],
        )
    })
    .map(wrap)
}

fn index_items(key: &Bound<'_, PyAny>) -> PyResult<Vec<IndexItem>> {
    let items: Vec<Bound<PyAny>> = if key.is_instance_of::<PyTuple>() {
        key.try_iter()?.collect::<PyResult<_>>()?
    } else {
        vec![key.clone()]
    };
    items
        .iter()
        .map(|k| {
            if k.is_none() {
                Ok(IndexItem::NewAxis)
            } else if k.is_instance_of::<PyEllipsis>() {
                Ok(IndexItem::Ellipsis)
            } else if let Ok(s) = k.cast::<PySlice>() {
                let get = |n: &str| -> PyResult<Option<i64>> {
                    let v = s.getattr(n)?;
                    if v.is_none() {
                        Ok(None)
                    } else {
                        Ok(Some(v.call_method0("__index__")?.extract()?))
                    }
                };
                Ok(IndexItem::Slice(get("start")?, get("stop")?, get("step")?))
            } else {
                Ok(IndexItem::Int(k.call_method0("__index__")?.extract()?))
            }
        })
        .collect()
}

/// Basic indexing (ints, slices, None, Ellipsis): a view.
#[pyfunction]
fn basic_index(x: PyRef<'_, PyTensor>, key: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let items = index_items(key)?;
    guard(|| x.t.index(items)).map(wrap)
}

/// `x[key] = value` for a basic index, in place (not recorded).
#[pyfunction]
fn basic_setitem(
    x: PyRef<'_, PyTensor>,
    key: &Bound<'_, PyAny>,
    value: PyRef<'_, PyTensor>,
) -> PyResult<()> {
    let items = index_items(key)?;
    let t = x.t.clone();
    guard(move || {
        trace::refuse(&t, "x[key] = value")?;
        let view = t.with_layout(ops::view::index_layout(t.layout(), &items)?);
        view.write_from(&value.t)
    })
}

/// Copy `src` (broadcast and cast) into `dst` in place.
#[pyfunction]
fn write_from(dst: PyRef<'_, PyTensor>, src: PyRef<'_, PyTensor>) -> PyResult<()> {
    guard(|| {
        trace::refuse(&dst.t, "an in-place write")?;
        dst.t.write_from(&src.t)
    })
}

#[pyfunction]
fn to_device(x: PyRef<'_, PyTensor>, kind: &str, id: usize) -> PyResult<PyTensor> {
    let dev = parse_device(kind, id)?;
    guard(|| x.t.to_device(dev)).map(wrap)
}

#[pyfunction]
fn num_gpus() -> usize {
    mxg_core::backend::cuda::num_gpus()
}

/// Reseed the random generator shared by every sampling op.
#[pyfunction]
fn seed(s: u64) {
    mxg_core::ops::random::seed(s)
}

#[pyfunction]
fn num_threads() -> usize {
    mxg_core::backend::cpu::num_threads()
}

// ---- autograd

#[pyfunction]
fn set_recording(on: bool) -> bool {
    autograd::set_recording(on)
}
#[pyfunction]
fn set_training(on: bool) -> bool {
    autograd::set_training(on)
}
#[pyfunction]
fn is_recording() -> bool {
    autograd::is_recording()
}
#[pyfunction]
fn is_training() -> bool {
    autograd::is_training()
}

/// Make `x` a variable whose gradient goes into `grad` (or a fresh zero buffer).
#[pyfunction]
#[pyo3(signature = (x, grad_req="write", grad=None))]
fn mark_variable(
    x: PyRef<'_, PyTensor>,
    grad_req: &str,
    grad: Option<PyRef<'_, PyTensor>>,
) -> PyResult<()> {
    let req = guard(|| GradReq::parse(grad_req))?;
    let g = match grad {
        Some(g) => g.t.clone(),
        None => guard(|| x.t.zeros_like())?,
    };
    autograd::mark_variable(&x.t, Some(g), req);
    Ok(())
}

#[pyfunction]
fn grad(x: PyRef<'_, PyTensor>) -> Option<PyTensor> {
    autograd::grad_of(&x.t).map(wrap)
}

#[pyfunction]
fn grad_req(x: PyRef<'_, PyTensor>) -> Option<&'static str> {
    x.t.entry()
        .and_then(|e| e.variable().map(|v| v.req().name()))
}

/// Whether backward wrote `x`'s gradient since the flag was cleared (`clear=True` clears it);
/// None when `x` is not a variable.
#[pyfunction]
#[pyo3(signature = (x, clear=false))]
fn fresh_grad(x: PyRef<'_, PyTensor>, clear: bool) -> Option<bool> {
    x.t.entry()
        .and_then(|e| e.variable().map(|v| v.fresh(clear)))
}

/// The tensor is the output of a recorded op or a variable.
#[pyfunction]
fn in_graph(x: PyRef<'_, PyTensor>) -> bool {
    x.t.entry().is_some()
}

#[pyfunction]
fn detach(x: PyRef<'_, PyTensor>) -> PyTensor {
    wrap(x.t.detach())
}

#[pyfunction]
#[pyo3(signature = (heads, head_grads, variables=None, retain_graph=false, create_graph=false, train_mode=true))]
fn backward(
    py: Python<'_>,
    heads: Vec<PyRef<'_, PyTensor>>,
    head_grads: Vec<Option<PyRef<'_, PyTensor>>>,
    variables: Option<Vec<PyRef<'_, PyTensor>>>,
    retain_graph: bool,
    create_graph: bool,
    train_mode: bool,
) -> PyResult<Vec<PyTensor>> {
    let heads = tensors(&heads);
    let hg: Vec<Option<Tensor>> = head_grads
        .iter()
        .map(|g| g.as_ref().map(|g| g.t.clone()))
        .collect();
    let vars = variables.map(|v| tensors(&v));
    // The GIL is released for the pass; an `autograd.Function` on the tape takes it back.
    let out = py.detach(|| {
        guard(|| {
            autograd::backward(
                &heads,
                &hg,
                vars.as_deref(),
                retain_graph,
                create_graph,
                train_mode,
            )
        })
    })?;
    Ok(out.into_iter().map(wrap).collect())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    mxg_core::backend::cpu::keep_freed_memory();
    m.add_class::<PyTensor>()?;
    m.add_function(wrap_pyfunction!(set_exceptions, m)?)?;
    m.add_function(wrap_pyfunction!(from_address, m)?)?;
    m.add_function(wrap_pyfunction!(full, m)?)?;
    m.add_function(wrap_pyfunction!(invoke, m)?)?;
    m.add_function(wrap_pyfunction!(binary, m)?)?;
    m.add_function(wrap_pyfunction!(scalar_op, m)?)?;
    m.add_function(wrap_pyfunction!(basic_index, m)?)?;
    m.add_function(wrap_pyfunction!(basic_setitem, m)?)?;
    m.add_function(wrap_pyfunction!(write_from, m)?)?;
    m.add_function(wrap_pyfunction!(to_device, m)?)?;
    m.add_function(wrap_pyfunction!(num_gpus, m)?)?;
    m.add_function(wrap_pyfunction!(num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(seed, m)?)?;
    m.add_function(wrap_pyfunction!(set_recording, m)?)?;
    m.add_function(wrap_pyfunction!(set_training, m)?)?;
    m.add_function(wrap_pyfunction!(is_recording, m)?)?;
    m.add_function(wrap_pyfunction!(is_training, m)?)?;
    m.add_function(wrap_pyfunction!(mark_variable, m)?)?;
    m.add_function(wrap_pyfunction!(grad, m)?)?;
    m.add_function(wrap_pyfunction!(grad_req, m)?)?;
    m.add_function(wrap_pyfunction!(in_graph, m)?)?;
    m.add_function(wrap_pyfunction!(detach, m)?)?;
    m.add_function(wrap_pyfunction!(fresh_grad, m)?)?;
    m.add_function(wrap_pyfunction!(backward, m)?)?;
    m.add_function(wrap_pyfunction!(function::custom_function, m)?)?;
    m.add_function(wrap_pyfunction!(dlpack::to_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(dlpack::from_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(io::save_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(io::load_arrays, m)?)?;
    m.add_class::<graph::PyGraph>()?;
    m.add_function(wrap_pyfunction!(graph::trace_start, m)?)?;
    m.add_function(wrap_pyfunction!(graph::trace_finish, m)?)?;
    m.add_function(wrap_pyfunction!(graph::trace_abort, m)?)?;
    m.add_function(wrap_pyfunction!(graph::trace_active, m)?)?;
    m.add_function(wrap_pyfunction!(graph::op_names, m)?)?;
    m.add_function(wrap_pyfunction!(graph::mxnet_type_flag, m)?)?;
    m.add_function(wrap_pyfunction!(graph::dtype_of_mxnet_flag, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
