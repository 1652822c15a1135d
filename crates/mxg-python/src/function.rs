//! `mx.autograd.Function`: an op whose forward and backward are Python methods.
use crate::{errors::guard, PyTensor};
use mxg_core::autograd;
use mxg_core::ops::{apply, Ctx, Meta, Op};
use mxg_core::{Error, Result, Tensor};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::Arc;

struct PyFunction {
    func: Py<PyAny>,
}

fn py_err(what: &str, e: PyErr) -> Error {
    Python::attach(|py| Error::Value {
        op: "autograd.Function".into(),
        msg: format!("{what} raised {}", e.value(py)),
    })
}

/// Call `func.method(*tensors)` (as ndarrays) with recording paused; the result as tensors.
fn call(func: &Py<PyAny>, method: &str, args: &[Tensor]) -> Result<Vec<Tensor>> {
    Python::attach(|py| {
        let wrap = py
            .import("mxgluon.numpy.multiarray")
            .and_then(|m| m.getattr("_wrap"))
            .map_err(|e| py_err("import", e))?;
        let arrays: Vec<Bound<PyAny>> = args
            .iter()
            .map(|t| wrap.call1((Py::new(py, PyTensor { t: t.clone() })?,)))
            .collect::<PyResult<_>>()
            .map_err(|e| py_err(method, e))?;
        let was = autograd::set_recording(false);
        let out = func.bind(py).call_method1(
            method,
            PyTuple::new(py, arrays).map_err(|e| py_err(method, e))?,
        );
        autograd::set_recording(was);
        let out = out.map_err(|e| py_err(method, e))?;
        let items: Vec<Bound<PyAny>> =
            if out.is_instance_of::<PyTuple>() || out.is_instance_of::<pyo3::types::PyList>() {
                out.try_iter()
                    .and_then(|i| i.collect::<PyResult<_>>())
                    .map_err(|e| py_err(method, e))?
            } else {
                vec![out]
            };
        items
            .iter()
            .map(|o| {
                let t = o
                    .getattr("_t")
                    .and_then(|t| Ok(t.cast::<PyTensor>()?.get().t.clone()));
                // Fresh handles: an output that is an input must not take over the input's graph entry.
                t.map(|t| t.detach()).map_err(|_| {
                    Error::value(
                        "autograd.Function",
                        format!("{method} must return ndarrays, got {o}"),
                    )
                })
            })
            .collect()
    })
}

impl Op for PyFunction {
    fn name(&self) -> &'static str {
        "_CustomFunction"
    }
    fn needs_caller_thread(&self) -> bool {
        true
    }
    fn infer(&self, _inputs: &[Meta]) -> Result<Vec<Meta>> {
        Err(Error::Unsupported(
            "autograd.Function cannot be traced into a graph: its forward is Python code".into(),
        ))
    }
    fn forward(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        call(&self.func, "forward", inputs)
    }
    fn backward(&self, ctx: &Ctx, grads: &[Option<Tensor>]) -> Result<Vec<Option<Tensor>>> {
        let mut gs = Vec::with_capacity(grads.len());
        for (g, o) in grads.iter().zip(ctx.outputs) {
            gs.push(match g {
                Some(g) => g.clone(),
                None => o.zeros_like()?,
            });
        }
        let out = call(&self.func, "backward", &gs)?;
        if out.len() != ctx.inputs.len() {
            return Err(Error::value(
                "autograd.Function",
                format!(
                    "backward returned {} gradients for {} inputs",
                    out.len(),
                    ctx.inputs.len()
                ),
            ));
        }
        for (g, x) in out.iter().zip(ctx.inputs) {
            if g.shape() != x.shape() {
                return Err(Error::shapes(
                    "autograd.Function",
                    &[g.shape(), x.shape()],
                    "each gradient must have its input's shape",
                ));
            }
        }
        Ok(out.into_iter().map(Some).collect())
    }
}

/// Run `func.forward` on `inputs`, recorded so that `func.backward` gives the gradients.
#[pyfunction]
pub fn custom_function(
    py: Python<'_>,
    func: Py<PyAny>,
    inputs: Vec<PyRef<'_, PyTensor>>,
) -> PyResult<Py<PyAny>> {
    let ins: Vec<Tensor> = inputs.iter().map(|t| t.t.clone()).collect();
    let op: Arc<dyn Op> = Arc::new(PyFunction { func });
    let outs = guard(|| apply(op, &ins.iter().collect::<Vec<_>>()))?;
    crate::outputs(py, outs)
}
