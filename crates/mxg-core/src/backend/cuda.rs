//! CUDA device memory, through cudarc with the driver loaded at run time.
//!
//! This holds storage and host transfers; the kernels come with the GPU backend. Without the
//! `cuda` feature, or on a machine without the driver, there are no GPUs and asking for one
//! is a clear error, never a panic.
use crate::{CpuStorage, DType, Error, Result};

#[cfg(feature = "cuda")]
mod imp {
    use super::*;
    use cudarc::driver::{CudaContext, CudaSlice, CudaStream};
    use std::sync::{Arc, Mutex, OnceLock};

    #[derive(Debug)]
    pub struct CudaStorage {
        data: CudaSlice<u8>,
        dtype: DType,
        ordinal: usize,
        stream: Arc<CudaStream>,
    }

    fn driver_present() -> bool {
        // cudarc panics on the first call when libcuda is missing: ask first.
        static PRESENT: OnceLock<bool> = OnceLock::new();
        *PRESENT.get_or_init(|| unsafe { cudarc::driver::sys::is_culib_present() })
    }

    pub fn num_gpus() -> usize {
        if !driver_present() {
            return 0;
        }
        CudaContext::device_count()
            .map(|n| n.max(0) as usize)
            .unwrap_or(0)
    }

    fn stream(ordinal: usize) -> Result<Arc<CudaStream>> {
        static CTXS: OnceLock<Mutex<Vec<Option<Arc<CudaStream>>>>> = OnceLock::new();
        let n = num_gpus();
        if ordinal >= n {
            return Err(no_gpu(ordinal, n));
        }
        let mut ctxs = CTXS
            .get_or_init(|| Mutex::new(vec![None; n]))
            .lock()
            .unwrap();
        if let Some(s) = &ctxs[ordinal] {
            return Ok(s.clone());
        }
        let ctx = CudaContext::new(ordinal)
            .map_err(|e| Error::Device(format!("gpu({ordinal}): {e:?}")))?;
        let s = ctx.default_stream();
        ctxs[ordinal] = Some(s.clone());
        Ok(s)
    }

    impl CudaStorage {
        pub fn from_cpu(src: &CpuStorage, ordinal: usize) -> Result<CudaStorage> {
            let stream = stream(ordinal)?;
            let data = stream
                .memcpy_stod(src.as_bytes())
                .map_err(|e| Error::Device(format!("copy to gpu({ordinal}): {e:?}")))?;
            Ok(CudaStorage {
                data,
                dtype: src.dtype(),
                ordinal,
                stream,
            })
        }
        pub fn to_cpu(&self) -> Result<CpuStorage> {
            let bytes = self
                .stream
                .memcpy_dtov(&self.data)
                .map_err(|e| Error::Device(format!("copy from gpu({}): {e:?}", self.ordinal)))?;
            CpuStorage::from_bytes(self.dtype, &bytes)
        }
        pub fn ordinal(&self) -> usize {
            self.ordinal
        }
        pub fn dtype(&self) -> DType {
            self.dtype
        }
    }
}

#[cfg(not(feature = "cuda"))]
mod imp {
    use super::*;

    /// Never constructed in a build without CUDA.
    #[derive(Debug)]
    pub enum CudaStorage {}

    pub fn num_gpus() -> usize {
        0
    }

    impl CudaStorage {
        pub fn from_cpu(_src: &CpuStorage, ordinal: usize) -> Result<CudaStorage> {
            Err(Error::Device(format!(
                "gpu({ordinal}) is not available: mxgluon was built without CUDA support"
            )))
        }
        pub fn to_cpu(&self) -> Result<CpuStorage> {
            match *self {}
        }
        pub fn ordinal(&self) -> usize {
            match *self {}
        }
        pub fn dtype(&self) -> DType {
            match *self {}
        }
    }
}

pub use imp::{num_gpus, CudaStorage};

#[allow(dead_code)]
fn no_gpu(ordinal: usize, n: usize) -> Error {
    Error::Device(format!(
        "gpu({ordinal}) is not available: this machine has {n} CUDA GPU(s)"
    ))
}
