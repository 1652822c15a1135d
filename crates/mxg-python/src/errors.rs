//! Rust errors to Python exceptions, and no panic ever crossing into Python.
use mxg_core::Error;
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// `mxgluon.base`'s classes: MXNetError and its ValueError/TypeError/IndexError subclasses.
static CLASSES: PyOnceLock<[Py<PyType>; 4]> = PyOnceLock::new();

pub fn set_classes(
    base: Bound<'_, PyAny>,
    value: Bound<'_, PyAny>,
    type_: Bound<'_, PyAny>,
    index: Bound<'_, PyAny>,
) -> PyResult<()> {
    let py = base.py();
    let c = [
        base.cast_into::<PyType>()?.unbind(),
        value.cast_into::<PyType>()?.unbind(),
        type_.cast_into::<PyType>()?.unbind(),
        index.cast_into::<PyType>()?.unbind(),
    ];
    let _ = CLASSES.set(py, c);
    Ok(())
}

pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    Python::attach(|py| {
        let which = match e {
            Error::Shape { .. } | Error::Value { .. } => 1,
            Error::Type { .. } => 2,
            Error::Index { .. } => 3,
            _ => 0,
        };
        match CLASSES.get(py) {
            Some(c) => PyErr::from_type(c[which].bind(py).clone(), msg),
            None => match which {
                1 => PyValueError::new_err(msg),
                2 => PyTypeError::new_err(msg),
                3 => PyIndexError::new_err(msg),
                _ => PyRuntimeError::new_err(msg),
            },
        }
    })
}

/// Run `f`, turning its error into the matching Python exception and a panic into MXNetError.
pub fn guard<T>(f: impl FnOnce() -> mxg_core::Result<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(to_py),
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(to_py(Error::Unsupported(format!(
                "internal error in mxgluon's core (please report it): {what}"
            ))))
        }
    }
}
