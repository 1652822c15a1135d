//! The tensor: a cheap handle on shared storage plus a layout (a view), a dtype, a device and,
//! when autograd records it, the entry that says where it came from.
use crate::autograd::Entry;
use crate::backend::cpu;
use crate::backend::cuda::CudaStorage;
use crate::layout::{numel, Layout, Shape};
use crate::storage::{CpuElement, CpuStorage, Storage};
use crate::{with_dtype, DType, Device, Error, Result};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[derive(Clone)]
pub struct Tensor(Arc<Inner>);

struct Inner {
    storage: Arc<RwLock<Storage>>,
    layout: Layout,
    dtype: DType,
    device: Device,
    entry: Mutex<Option<Entry>>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor({:?}, {}, {})",
            self.shape(),
            self.dtype(),
            self.device()
        )
    }
}

fn lock_err<T>(_: T) -> Error {
    Error::Device("tensor storage lock poisoned by an earlier failure".into())
}

impl Tensor {
    pub fn from_storage(storage: Storage, layout: Layout) -> Tensor {
        let (dtype, device) = (storage.dtype(), storage.device());
        Tensor(Arc::new(Inner {
            storage: Arc::new(RwLock::new(storage)),
            layout,
            dtype,
            device,
            entry: Mutex::new(None),
        }))
    }

    /// A contiguous host tensor over `data`.
    pub fn from_cpu(data: CpuStorage, shape: &[usize]) -> Result<Tensor> {
        if data.len() != numel(shape) {
            return Err(Error::shape(
                "array",
                format!("{} elements cannot have shape {shape:?}", data.len()),
            ));
        }
        Ok(Tensor::from_storage(
            Storage::Cpu(data),
            Layout::contiguous(shape),
        ))
    }

    pub fn from_vec<T: CpuElement>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        Tensor::from_cpu(T::wrap(data), shape)
    }

    pub fn full(shape: &[usize], value: f64, dtype: DType, device: Device) -> Result<Tensor> {
        Tensor::from_cpu(CpuStorage::full(dtype, numel(shape), value), shape)?.to_device(device)
    }

    pub fn zeros(shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
        Tensor::from_cpu(CpuStorage::zeros(dtype, numel(shape)), shape)?.to_device(device)
    }

    pub fn scalar(value: f64, dtype: DType) -> Tensor {
        Tensor::from_cpu(CpuStorage::full(dtype, 1, value), &[]).expect("one element is a scalar")
    }

    pub fn shape(&self) -> &Shape {
        &self.0.layout.shape
    }
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    pub fn device(&self) -> Device {
        self.0.device
    }
    pub fn ndim(&self) -> usize {
        self.0.layout.ndim()
    }
    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }

    pub fn storage(&self) -> Result<RwLockReadGuard<'_, Storage>> {
        self.0.storage.read().map_err(lock_err)
    }
    pub fn storage_mut(&self) -> Result<RwLockWriteGuard<'_, Storage>> {
        self.0.storage.write().map_err(lock_err)
    }
    pub fn same_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0.storage, &other.0.storage)
    }
    /// Identity of the handle (two Python arrays wrapping one tensor share it).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as *const () as usize
    }
    /// Address of the first element of this view, for zero-copy export to NumPy and DLPack.
    pub fn data_ptr(&self) -> Result<usize> {
        let mut st = self.storage_mut()?;
        let base = st.cpu_mut("data_ptr")?.as_mut_ptr() as usize;
        Ok(base + self.0.layout.offset * self.dtype().size())
    }

    /// Another view of the same storage, with no autograd entry.
    pub fn with_layout(&self, layout: Layout) -> Tensor {
        Tensor(Arc::new(Inner {
            storage: self.0.storage.clone(),
            layout,
            dtype: self.0.dtype,
            device: self.0.device,
            entry: Mutex::new(None),
        }))
    }

    /// The same view, cut off from the autograd graph.
    pub fn detach(&self) -> Tensor {
        self.with_layout(self.0.layout.clone())
    }

    pub fn entry(&self) -> Option<Entry> {
        self.0
            .entry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn set_entry(&self, entry: Option<Entry>) {
        *self.0.entry.lock().unwrap_or_else(|e| e.into_inner()) = entry;
    }
    /// A handle on the same data that carries `entry` (used to replay saved values in backward).
    pub fn with_entry(&self, entry: Option<Entry>) -> Tensor {
        let t = self.detach();
        t.set_entry(entry);
        t
    }

    pub fn is_contiguous(&self) -> bool {
        self.0.layout.is_contiguous()
    }

    /// The elements in row-major order, as `T` (which must be the tensor's dtype).
    pub fn to_vec<T: CpuElement>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype() {
            return Err(Error::dtype(
                "to_vec",
                format!("tensor is {}, not {}", self.dtype(), T::DTYPE),
            ));
        }
        let t = self.to_device(Device::Cpu(0))?;
        let st = t.storage()?;
        Ok(cpu::gather(T::slice(st.cpu("to_vec")?), t.layout()))
    }

    /// The elements in row-major order, converted to f64 (for tests and printing).
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        with_dtype!(
            self.dtype(),
            T,
            Ok(self
                .to_vec::<T>()?
                .into_iter()
                .map(|v| crate::Element::to_f64(v))
                .collect())
        )
    }

    /// A contiguous copy of this view's elements in a fresh host buffer.
    pub fn to_cpu_storage(&self) -> Result<CpuStorage> {
        with_dtype!(self.dtype(), T, Ok(T::wrap(self.to_vec::<T>()?)))
    }

    /// A contiguous copy on `device` (no copy when it is already there). Not recorded by autograd;
    /// the recorded form is the `copyto` op.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        let src = match &*self.storage()? {
            Storage::Cpu(_) => self.clone(),
            Storage::Cuda(c) => {
                Tensor::from_storage(Storage::Cpu(c.to_cpu()?), self.layout().clone())
            }
        };
        match device {
            Device::Cpu(_) => Ok(Tensor::from_storage(
                Storage::Cpu(src.to_cpu_storage()?),
                Layout::contiguous(self.shape()),
            )),
            Device::Gpu(i) => {
                let data = src.to_cpu_storage()?;
                Ok(Tensor::from_storage(
                    Storage::Cuda(CudaStorage::from_cpu(&data, i)?),
                    Layout::contiguous(self.shape()),
                ))
            }
        }
    }

    /// A contiguous tensor with these elements: `self` when already contiguous, else a copy.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        let data = self.to_cpu_storage()?;
        Tensor::from_cpu(data, self.shape())
    }

    /// Write `src` (broadcast to this view's shape, cast to its dtype) into this view, in place.
    /// Not recorded; `ops::assign` is the recorded form.
    pub fn write_from(&self, src: &Tensor) -> Result<()> {
        let src = if src.dtype() != self.dtype() {
            src.cast_copy(self.dtype())?
        } else {
            src.clone()
        };
        let src = src.to_device(self.device())?;
        let bl = src
            .layout()
            .broadcast_to("assign", self.shape())
            .map_err(|_| {
                Error::shape(
                    "assign",
                    format!(
                        "could not broadcast input array from shape {:?} into shape {:?}",
                        src.shape(),
                        self.shape()
                    ),
                )
            })?;
        // Reading and writing one buffer: copy the source out first.
        let src = if src.same_storage(self) {
            Tensor::from_cpu(src.to_cpu_storage()?, src.shape())?
        } else {
            src
        };
        let bl = if src.layout().offset != bl.offset {
            Layout {
                offset: src.layout().offset,
                ..bl
            }
        } else {
            bl
        };
        let s = src.storage()?;
        let mut d = self.storage_mut()?;
        with_dtype!(self.dtype(), T, {
            cpu::scatter(
                T::slice(s.cpu("assign")?),
                &bl,
                T::slice_mut(d.cpu_mut("assign")?),
                self.layout(),
            );
        });
        Ok(())
    }

    /// This tensor in `dtype`: itself when it already is, else a converted copy (not recorded).
    pub fn cast_to(&self, dtype: DType) -> Result<Tensor> {
        if self.dtype() == dtype {
            Ok(self.clone())
        } else {
            self.cast_copy(dtype)
        }
    }

    /// A contiguous copy converted to `dtype` (not recorded; the `cast` op is the recorded form).
    pub fn cast_copy(&self, dtype: DType) -> Result<Tensor> {
        let st = self.storage()?;
        let out = cpu::cast(st.cpu("astype")?, self.layout(), dtype);
        Tensor::from_cpu(out, self.shape())
    }
}
