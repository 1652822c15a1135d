//! Backends: kernels for each kind of device.
pub mod cpu;
pub mod cuda;
