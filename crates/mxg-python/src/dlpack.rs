//! DLPack: `__dlpack__` hands out CPU tensors without a copy; `from_dlpack` copies in.
use crate::{errors::guard, errors::to_py, PyTensor};
use mxg_core::{CpuStorage, DType, Device, Error, Layout, Storage, Tensor};
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::{c_void, CStr};

#[repr(C)]
#[derive(Clone, Copy)]
struct DLDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct DLDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

#[repr(C)]
struct DLManagedTensor {
    dl_tensor: DLTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

/// What a capsule keeps alive: the tensor and the shape/strides arrays it points into.
struct Keep {
    _tensor: Tensor,
    _shape: Vec<i64>,
    _strides: Vec<i64>,
}

const NAME: &CStr = c"dltensor";
const USED: &CStr = c"used_dltensor";

fn dl_dtype(d: DType) -> DLDataType {
    let (code, bits) = match d {
        DType::Bool => (6, 8),
        DType::U8 => (1, 8),
        DType::I8 => (0, 8),
        DType::I32 => (0, 32),
        DType::I64 => (0, 64),
        DType::F16 => (2, 16),
        DType::BF16 => (4, 16),
        DType::F32 => (2, 32),
        DType::F64 => (2, 64),
    };
    DLDataType {
        code,
        bits,
        lanes: 1,
    }
}

fn from_dl_dtype(t: DLDataType) -> Option<DType> {
    if t.lanes != 1 {
        return None;
    }
    DType::ALL.into_iter().find(|d| {
        let x = dl_dtype(*d);
        x.code == t.code && x.bits == t.bits
    })
}

unsafe extern "C" fn delete_managed(m: *mut DLManagedTensor) {
    if m.is_null() {
        return;
    }
    let m = Box::from_raw(m);
    drop(Box::from_raw(m.manager_ctx as *mut Keep));
}

unsafe extern "C" fn capsule_destructor(capsule: *mut ffi::PyObject) {
    // Only a capsule nobody consumed still owns its tensor.
    if ffi::PyCapsule_IsValid(capsule, NAME.as_ptr()) == 1 {
        let m = ffi::PyCapsule_GetPointer(capsule, NAME.as_ptr()) as *mut DLManagedTensor;
        if let Some(d) = (*m).deleter {
            d(m);
        }
    }
}

/// A DLPack capsule viewing `x`'s data (CPU only).
#[pyfunction]
pub fn to_dlpack(py: Python<'_>, x: PyRef<'_, PyTensor>) -> PyResult<Py<PyAny>> {
    let t = x.t.clone();
    if !t.device().is_cpu() {
        return Err(to_py(Error::Device(
            "DLPack export of GPU arrays comes with the CUDA backend".into(),
        )));
    }
    let data = if t.numel() == 0 {
        std::ptr::null_mut()
    } else {
        guard(|| t.data_ptr())? as *mut c_void
    };
    let mut shape: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
    let mut strides: Vec<i64> = t.layout().strides.iter().map(|&s| s as i64).collect();
    let dl = DLTensor {
        data,
        device: DLDevice {
            device_type: 1,
            device_id: 0,
        },
        ndim: t.ndim() as i32,
        dtype: dl_dtype(t.dtype()),
        shape: shape.as_mut_ptr(),
        strides: strides.as_mut_ptr(),
        byte_offset: 0,
    };
    let keep = Box::into_raw(Box::new(Keep {
        _tensor: t,
        _shape: shape,
        _strides: strides,
    }));
    let m = Box::into_raw(Box::new(DLManagedTensor {
        dl_tensor: dl,
        manager_ctx: keep as *mut c_void,
        deleter: Some(delete_managed),
    }));
    unsafe {
        let cap = ffi::PyCapsule_New(m as *mut c_void, NAME.as_ptr(), Some(capsule_destructor));
        if cap.is_null() {
            delete_managed(m);
            return Err(PyErr::fetch(py));
        }
        Ok(Bound::from_owned_ptr(py, cap).unbind())
    }
}

/// A tensor copied from a DLPack capsule (or from an object with `__dlpack__`).
#[pyfunction]
pub fn from_dlpack(py: Python<'_>, obj: Bound<'_, PyAny>) -> PyResult<PyTensor> {
    let cap = if obj.hasattr("__dlpack__")? {
        obj.call_method0("__dlpack__")?
    } else {
        obj
    };
    let p = cap.as_ptr();
    unsafe {
        if ffi::PyCapsule_IsValid(p, NAME.as_ptr()) != 1 {
            return Err(to_py(Error::value(
                "from_dlpack",
                "expected an unconsumed DLPack capsule named 'dltensor'",
            )));
        }
        let m = ffi::PyCapsule_GetPointer(p, NAME.as_ptr()) as *mut DLManagedTensor;
        if m.is_null() {
            return Err(PyErr::fetch(py));
        }
        let dl = &(*m).dl_tensor;
        let result = (|| -> mxg_core::Result<Tensor> {
            if dl.device.device_type != 1 && dl.device.device_type != 3 {
                return Err(Error::Device(format!(
                    "from_dlpack: device type {} is not the CPU",
                    dl.device.device_type
                )));
            }
            let dt = from_dl_dtype(dl.dtype).ok_or_else(|| {
                Error::dtype(
                    "from_dlpack",
                    format!(
                        "DLPack dtype (code {}, bits {}, lanes {}) is not supported",
                        dl.dtype.code, dl.dtype.bits, dl.dtype.lanes
                    ),
                )
            })?;
            let nd = dl.ndim.max(0) as usize;
            let shape: Vec<usize> = (0..nd).map(|i| *dl.shape.add(i) as usize).collect();
            let n: usize = shape.iter().product();
            let strides: Vec<isize> = if dl.strides.is_null() {
                Layout::contiguous(&shape).strides
            } else {
                (0..nd).map(|i| *dl.strides.add(i) as isize).collect()
            };
            if n == 0 {
                return Tensor::zeros(&shape, dt, Device::Cpu(0));
            }
            // The span of memory the view covers, in elements, from its lowest address.
            let lo: isize = shape
                .iter()
                .zip(&strides)
                .map(|(&d, &s)| if s < 0 { s * (d as isize - 1) } else { 0 })
                .sum();
            let hi: isize = shape
                .iter()
                .zip(&strides)
                .map(|(&d, &s)| if s > 0 { s * (d as isize - 1) } else { 0 })
                .sum();
            let base = (dl.data as *const u8)
                .add(dl.byte_offset as usize)
                .offset(lo * dt.size() as isize);
            let span = (hi - lo + 1) as usize * dt.size();
            let bytes = std::slice::from_raw_parts(base, span);
            let whole = Tensor::from_storage(
                Storage::Cpu(CpuStorage::from_bytes(dt, bytes)?),
                Layout::contiguous(&[span / dt.size()]),
            );
            let view = whole.with_layout(Layout {
                shape: shape.clone(),
                strides,
                offset: (-lo) as usize,
            });
            Tensor::from_cpu(view.to_cpu_storage()?, &shape)
        })();
        // Consumed: we call its deleter now that the data is copied.
        ffi::PyCapsule_SetName(p, USED.as_ptr());
        if let Some(d) = (*m).deleter {
            d(m);
        }
        guard(|| result).map(|t| PyTensor { t })
    }
}
