//! Devices: the CPU and CUDA GPUs.
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu(usize),
    Gpu(usize),
}

impl Device {
    /// MXNet's device type code (1 cpu, 2 gpu).
    pub fn type_code(self) -> i32 {
        match self {
            Device::Cpu(_) => 1,
            Device::Gpu(_) => 2,
        }
    }
    pub fn id(self) -> usize {
        match self {
            Device::Cpu(i) | Device::Gpu(i) => i,
        }
    }
    pub fn is_cpu(self) -> bool {
        matches!(self, Device::Cpu(_))
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu(i) => write!(f, "cpu({i})"),
            Device::Gpu(i) => write!(f, "gpu({i})"),
        }
    }
}
