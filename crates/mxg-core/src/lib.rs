//! mxg-core: the numerics of mxgluon, usable from Rust alone: tensors with shared strided
//! storage, operators defined once (inference, kernels, gradients, MXNet names), autograd and
//! CPU kernels, with CUDA behind the `cuda` feature.
pub mod autograd;
pub mod backend;
pub mod device;
pub mod dtype;
pub mod error;
pub mod graph;
pub mod io;
pub mod layout;
pub mod ops;
pub mod storage;
pub mod tensor;

pub use device::Device;
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use layout::{Layout, Shape};
pub use storage::{CpuElement, CpuStorage, Storage};
pub use tensor::Tensor;
