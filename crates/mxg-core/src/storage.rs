//! Storage: the memory behind tensors. One enum, a variant per backend; views share it.
use crate::{DType, Device, Element, Error, Result};
use half::{bf16, f16};

/// Host memory, typed.
#[derive(Clone, Debug)]
pub enum CpuStorage {
    Bool(Vec<bool>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Runs `$body` with `$T` bound to the Rust type of a `DType`.
#[macro_export]
macro_rules! with_dtype {
    ($dt:expr, $T:ident, $body:expr) => {
        match $dt {
            $crate::DType::Bool => {
                type $T = bool;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::F16 => {
                type $T = half::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = half::bf16;
                $body
            }
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}

/// Like `with_dtype!`, for the float types only; other dtypes run `$other`.
#[macro_export]
macro_rules! with_float_dtype {
    ($dt:expr, $T:ident, $body:expr, $other:expr) => {
        match $dt {
            $crate::DType::F16 => {
                type $T = half::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = half::bf16;
                $body
            }
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            _ => $other,
        }
    };
}

/// Moving typed vectors in and out of `CpuStorage`.
pub trait CpuElement: Element {
    fn slice(s: &CpuStorage) -> &[Self];
    fn slice_mut(s: &mut CpuStorage) -> &mut [Self];
    fn wrap(v: Vec<Self>) -> CpuStorage;
}

macro_rules! cpu_element {
    ($t:ty, $v:ident) => {
        impl CpuElement for $t {
            #[inline]
            fn slice(s: &CpuStorage) -> &[Self] {
                match s {
                    CpuStorage::$v(v) => v,
                    _ => panic!("storage is {:?}, not {}", s.dtype(), stringify!($t)),
                }
            }
            #[inline]
            fn slice_mut(s: &mut CpuStorage) -> &mut [Self] {
                match s {
                    CpuStorage::$v(v) => v,
                    _ => panic!("storage is {:?}, not {}", s.dtype(), stringify!($t)),
                }
            }
            fn wrap(v: Vec<Self>) -> CpuStorage {
                CpuStorage::$v(v)
            }
        }
    };
}
cpu_element!(bool, Bool);
cpu_element!(u8, U8);
cpu_element!(i8, I8);
cpu_element!(i32, I32);
cpu_element!(i64, I64);
cpu_element!(f16, F16);
cpu_element!(bf16, BF16);
cpu_element!(f32, F32);
cpu_element!(f64, F64);

impl CpuStorage {
    pub fn dtype(&self) -> DType {
        match self {
            CpuStorage::Bool(_) => DType::Bool,
            CpuStorage::U8(_) => DType::U8,
            CpuStorage::I8(_) => DType::I8,
            CpuStorage::I32(_) => DType::I32,
            CpuStorage::I64(_) => DType::I64,
            CpuStorage::F16(_) => DType::F16,
            CpuStorage::BF16(_) => DType::BF16,
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::F64(_) => DType::F64,
        }
    }

    pub fn len(&self) -> usize {
        with_dtype!(self.dtype(), T, T::slice(self).len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn zeros(dtype: DType, n: usize) -> CpuStorage {
        with_dtype!(dtype, T, T::wrap(vec![T::zero(); n]))
    }

    pub fn full(dtype: DType, n: usize, value: f64) -> CpuStorage {
        with_dtype!(dtype, T, T::wrap(vec![T::from_f64(value); n]))
    }

    /// Raw bytes of the whole buffer (native endianness, which is little-endian on every target we build).
    pub fn as_bytes(&self) -> &[u8] {
        with_dtype!(self.dtype(), T, {
            let s = T::slice(self);
            // SAFETY: every element type is plain old data without padding.
            unsafe { std::slice::from_raw_parts(s.as_ptr() as *const u8, std::mem::size_of_val(s)) }
        })
    }

    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        with_dtype!(self.dtype(), T, T::slice_mut(self).as_mut_ptr() as *mut u8)
    }

    /// A buffer of `n` elements of `dtype` copied from raw little-endian bytes. Booleans are normalised.
    pub fn from_bytes(dtype: DType, bytes: &[u8]) -> Result<CpuStorage> {
        if bytes.len() % dtype.size() != 0 {
            return Err(Error::value(
                "from_bytes",
                format!("{} bytes is not a whole number of {dtype}", bytes.len()),
            ));
        }
        let n = bytes.len() / dtype.size();
        if dtype == DType::Bool {
            return Ok(CpuStorage::Bool(bytes.iter().map(|&b| b != 0).collect()));
        }
        with_dtype!(dtype, T, {
            let mut v: Vec<T> = vec![T::zero(); n];
            // SAFETY: v holds exactly bytes.len() bytes and T is plain old data.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    v.as_mut_ptr() as *mut u8,
                    bytes.len(),
                )
            };
            Ok(T::wrap(v))
        })
    }
}

/// Device memory behind a tensor.
#[derive(Debug)]
pub enum Storage {
    Cpu(CpuStorage),
    Cuda(crate::backend::cuda::CudaStorage),
}

impl Storage {
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu(0),
            Storage::Cuda(c) => Device::Gpu(c.ordinal()),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Storage::Cpu(c) => c.dtype(),
            Storage::Cuda(c) => c.dtype(),
        }
    }

    pub fn cpu(&self, op: &str) -> Result<&CpuStorage> {
        match self {
            Storage::Cpu(c) => Ok(c),
            Storage::Cuda(c) => Err(Error::Device(format!(
                "{op} is not implemented on gpu({}) yet",
                c.ordinal()
            ))),
        }
    }

    pub fn cpu_mut(&mut self, op: &str) -> Result<&mut CpuStorage> {
        match self {
            Storage::Cpu(c) => Ok(c),
            Storage::Cuda(c) => Err(Error::Device(format!(
                "{op} is not implemented on gpu({}) yet",
                c.ordinal()
            ))),
        }
    }
}

/// Runs `$body` with `$T` bound to a type kernels compute in: every dtype but the half floats,
/// which ops compute as f32 (for those, `$half` runs instead).
#[macro_export]
macro_rules! with_compute_dtype {
    ($dt:expr, $T:ident, $body:expr, $half:expr) => {
        match $dt {
            $crate::DType::Bool => {
                type $T = bool;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::F16 | $crate::DType::BF16 => $half,
        }
    };
}
