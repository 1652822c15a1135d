//! Element types and NumPy-style type promotion.
use half::{bf16, f16};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Bool,
    U8,
    I8,
    I32,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

impl DType {
    pub const ALL: [DType; 9] = [
        DType::Bool,
        DType::U8,
        DType::I8,
        DType::I32,
        DType::I64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
    ];

    /// NumPy's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    pub fn from_name(s: &str) -> Option<DType> {
        Some(match s {
            "bool" | "bool_" => DType::Bool,
            "uint8" | "u1" => DType::U8,
            "int8" | "i1" => DType::I8,
            "int32" | "i4" => DType::I32,
            "int64" | "i8" | "int" => DType::I64,
            "float16" | "f2" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "float32" | "f4" | "float" => DType::F32,
            "float64" | "f8" | "double" => DType::F64,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }

    /// The dtype kernels compute in: half floats are computed as float32.
    pub fn compute_dtype(self) -> DType {
        if matches!(self, DType::F16 | DType::BF16) {
            DType::F32
        } else {
            self
        }
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::U8 | DType::I8 | DType::I32 | DType::I64)
    }

    /// MXNet's type flag, as stored in `.params` files and `__dtype__` attributes.
    pub fn mxnet_flag(self) -> i32 {
        match self {
            DType::F32 => 0,
            DType::F64 => 1,
            DType::F16 => 2,
            DType::U8 => 3,
            DType::I32 => 4,
            DType::I8 => 5,
            DType::I64 => 6,
            DType::Bool => 7,
            DType::BF16 => 12,
        }
    }

    pub fn from_mxnet_flag(flag: i32) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.mxnet_flag() == flag)
    }

    /// The type two arrays combine to (NumPy's promotion table, restricted to our types).
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::*;
        if a == b {
            return a;
        }
        match (a, b) {
            (Bool, x) | (x, Bool) => x,
            (F16, BF16) | (BF16, F16) => F32,
            (x, y) if x.is_float() && y.is_float() => x.max(y),
            (x, y) if x.is_float() || y.is_float() => {
                let (f, i) = if x.is_float() { (x, y) } else { (y, x) };
                // NumPy: int8/uint8 fit in float16, int32 needs float64; MXNet keeps the float type
                // of the array for the common int32/int64 + float32 case, as NumPy does for int8/uint8.
                match (f, i) {
                    (F16, I32 | I64) | (BF16, I32 | I64) => F32,
                    _ => f,
                }
            }
            (U8, I8) | (I8, U8) => I32, // NumPy gives int16, which we do not have
            (x, y) => x.max(y),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type stored in tensors. Arithmetic on the narrow floats goes through f32.
pub trait Element: Copy + Send + Sync + PartialOrd + Default + fmt::Debug + 'static {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn to_i64(self) -> i64 {
        self.to_f64() as i64
    }
    fn from_i64(v: i64) -> Self {
        Self::from_f64(v as f64)
    }
    fn zero() -> Self;
    fn one() -> Self;
}

macro_rules! int_element {
    ($t:ty, $d:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_i64(self) -> i64 {
                self as i64
            }
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            fn zero() -> Self {
                0 as $t
            }
            fn one() -> Self {
                1 as $t
            }
        }
    };
}
int_element!(u8, U8);
int_element!(i8, I8);
int_element!(i32, I32);
int_element!(i64, I64);
int_element!(f32, F32);
int_element!(f64, F64);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_i64(v: i64) -> Self {
        v != 0
    }
    fn zero() -> Self {
        false
    }
    fn one() -> Self {
        true
    }
}

macro_rules! half_element {
    ($t:ty, $d:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn to_f64(self) -> f64 {
                self.to_f64()
            }
            fn from_f64(v: f64) -> Self {
                <$t>::from_f64(v)
            }
            fn zero() -> Self {
                <$t>::ZERO
            }
            fn one() -> Self {
                <$t>::ONE
            }
        }
    };
}
half_element!(f16, F16);
half_element!(bf16, BF16);

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn promotion_follows_numpy() {
        assert_eq!(DType::promote(DType::I32, DType::I64), DType::I64);
        assert_eq!(DType::promote(DType::Bool, DType::F16), DType::F16);
        assert_eq!(DType::promote(DType::F16, DType::F64), DType::F64);
        assert_eq!(DType::promote(DType::U8, DType::F32), DType::F32);
        assert_eq!(DType::promote(DType::F16, DType::BF16), DType::F32);
        for d in DType::ALL {
            assert_eq!(DType::from_mxnet_flag(d.mxnet_flag()), Some(d));
            assert_eq!(DType::from_name(d.name()), Some(d));
        }
    }
}
