//! Per-type arithmetic with NumPy's semantics (Python-style floor division and modulo, NaN-propagating
//! maximum/minimum, integer division by zero giving 0). Half floats are computed as f32 by the ops.
use crate::storage::CpuElement;

pub trait Num: CpuElement {
    fn add(a: Self, b: Self) -> Self;
    fn sub(a: Self, b: Self) -> Self;
    fn mul(a: Self, b: Self) -> Self;
    fn div(a: Self, b: Self) -> Self;
    fn floordiv(a: Self, b: Self) -> Self;
    fn rem(a: Self, b: Self) -> Self;
    fn pow(a: Self, b: Self) -> Self;
    fn max(a: Self, b: Self) -> Self;
    fn min(a: Self, b: Self) -> Self;
    fn neg(a: Self) -> Self;
    fn abs(a: Self) -> Self;
    fn sign(a: Self) -> Self;
}

macro_rules! signed_int {
    ($t:ty) => {
        impl Num for $t {
            #[inline]
            fn add(a: Self, b: Self) -> Self {
                a.wrapping_add(b)
            }
            #[inline]
            fn sub(a: Self, b: Self) -> Self {
                a.wrapping_sub(b)
            }
            #[inline]
            fn mul(a: Self, b: Self) -> Self {
                a.wrapping_mul(b)
            }
            #[inline]
            fn div(a: Self, b: Self) -> Self {
                if b == 0 {
                    0
                } else {
                    a.wrapping_div(b)
                }
            }
            #[inline]
            fn floordiv(a: Self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                let q = a.wrapping_div(b);
                if a.wrapping_rem(b) != 0 && ((a < 0) != (b < 0)) {
                    q - 1
                } else {
                    q
                }
            }
            #[inline]
            fn rem(a: Self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                let r = a.wrapping_rem(b);
                if r != 0 && ((r < 0) != (b < 0)) {
                    r + b
                } else {
                    r
                }
            }
            #[inline]
            fn pow(a: Self, b: Self) -> Self {
                if b < 0 {
                    0
                } else {
                    a.wrapping_pow(b as u32)
                }
            }
            #[inline]
            fn max(a: Self, b: Self) -> Self {
                if a >= b {
                    a
                } else {
                    b
                }
            }
            #[inline]
            fn min(a: Self, b: Self) -> Self {
                if a <= b {
                    a
                } else {
                    b
                }
            }
            #[inline]
            fn neg(a: Self) -> Self {
                a.wrapping_neg()
            }
            #[inline]
            fn abs(a: Self) -> Self {
                a.wrapping_abs()
            }
            #[inline]
            fn sign(a: Self) -> Self {
                a.signum()
            }
        }
    };
}
signed_int!(i8);
signed_int!(i32);
signed_int!(i64);

impl Num for u8 {
    #[inline]
    fn add(a: Self, b: Self) -> Self {
        a.wrapping_add(b)
    }
    #[inline]
    fn sub(a: Self, b: Self) -> Self {
        a.wrapping_sub(b)
    }
    #[inline]
    fn mul(a: Self, b: Self) -> Self {
        a.wrapping_mul(b)
    }
    #[inline]
    fn div(a: Self, b: Self) -> Self {
        a.checked_div(b).unwrap_or(0)
    }
    #[inline]
    fn floordiv(a: Self, b: Self) -> Self {
        a.checked_div(b).unwrap_or(0)
    }
    #[inline]
    fn rem(a: Self, b: Self) -> Self {
        a.checked_rem(b).unwrap_or(0)
    }
    #[inline]
    fn pow(a: Self, b: Self) -> Self {
        a.wrapping_pow(b as u32)
    }
    #[inline]
    fn max(a: Self, b: Self) -> Self {
        a.max(b)
    }
    #[inline]
    fn min(a: Self, b: Self) -> Self {
        a.min(b)
    }
    #[inline]
    fn neg(a: Self) -> Self {
        a.wrapping_neg()
    }
    #[inline]
    fn abs(a: Self) -> Self {
        a
    }
    #[inline]
    fn sign(a: Self) -> Self {
        (a > 0) as u8
    }
}

impl Num for bool {
    #[inline]
    fn add(a: Self, b: Self) -> Self {
        a | b
    }
    #[inline]
    fn sub(a: Self, b: Self) -> Self {
        a ^ b
    }
    #[inline]
    fn mul(a: Self, b: Self) -> Self {
        a & b
    }
    #[inline]
    fn div(a: Self, b: Self) -> Self {
        a & b
    }
    #[inline]
    fn floordiv(a: Self, b: Self) -> Self {
        a & b
    }
    #[inline]
    fn rem(_a: Self, _b: Self) -> Self {
        false
    }
    #[inline]
    fn pow(a: Self, b: Self) -> Self {
        a | !b
    }
    #[inline]
    fn max(a: Self, b: Self) -> Self {
        a | b
    }
    #[inline]
    fn min(a: Self, b: Self) -> Self {
        a & b
    }
    #[inline]
    fn neg(a: Self) -> Self {
        a
    }
    #[inline]
    fn abs(a: Self) -> Self {
        a
    }
    #[inline]
    fn sign(a: Self) -> Self {
        a
    }
}

macro_rules! float {
    ($t:ty) => {
        impl Num for $t {
            #[inline]
            fn add(a: Self, b: Self) -> Self {
                a + b
            }
            #[inline]
            fn sub(a: Self, b: Self) -> Self {
                a - b
            }
            #[inline]
            fn mul(a: Self, b: Self) -> Self {
                a * b
            }
            #[inline]
            fn div(a: Self, b: Self) -> Self {
                a / b
            }
            /// NumPy's `npy_floor_divide`: from `fmod`, so that `1.0 // 0.1 == 9.0` (the
            /// rounded quotient `1.0 / 0.1` is exactly 10).
            #[inline]
            fn floordiv(a: Self, b: Self) -> Self {
                if b == 0.0 {
                    return a / b;
                }
                let m = a % b;
                let mut div = (a - m) / b;
                if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
                    div -= 1.0;
                }
                if div == 0.0 {
                    return (0.0 as Self).copysign(a / b);
                }
                let f = div.floor();
                if div - f > 0.5 {
                    f + 1.0
                } else {
                    f
                }
            }
            #[inline]
            fn rem(a: Self, b: Self) -> Self {
                let r = a % b;
                if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
                    r + b
                } else {
                    r
                }
            }
            #[inline]
            fn pow(a: Self, b: Self) -> Self {
                a.powf(b)
            }
            #[inline]
            fn max(a: Self, b: Self) -> Self {
                if a.is_nan() || a >= b {
                    a
                } else {
                    b
                }
            }
            #[inline]
            fn min(a: Self, b: Self) -> Self {
                if a.is_nan() || a <= b {
                    a
                } else {
                    b
                }
            }
            #[inline]
            fn neg(a: Self) -> Self {
                -a
            }
            #[inline]
            fn abs(a: Self) -> Self {
                a.abs()
            }
            #[inline]
            fn sign(a: Self) -> Self {
                if a > 0.0 {
                    1.0
                } else if a < 0.0 {
                    -1.0
                } else {
                    a
                }
            }
        }
    };
}
float!(f32);
float!(f64);

/// Float math, for f32 and f64.
pub trait Real:
    Num
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    fn from_f(v: f64) -> Self;
    fn f(self) -> f64;
    fn exp(self) -> Self;
    fn exp_m1(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn log2(self) -> Self;
    fn log10(self) -> Self;
    fn sqrt(self) -> Self;
    fn cbrt(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn tanh(self) -> Self;
    /// 1 / (1 + e^-x) and tanh for the activation loops: for f32 in arithmetic the compiler
    /// inlines and vectorizes (`exp_f32`, a few ulp), for f64 the library's.
    fn sigmoid(self) -> Self;
    fn tanh_act(self) -> Self;
    fn asinh(self) -> Self;
    fn acosh(self) -> Self;
    fn atanh(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    fn trunc(self) -> Self;
    fn atan2(self, o: Self) -> Self;
    fn hypot(self, o: Self) -> Self;
    fn is_nan(self) -> bool;
    fn is_infinite(self) -> bool;
    fn is_finite(self) -> bool;
}

macro_rules! real {
    ($t:ty, $exp:path, $tanh:path) => {
        impl Real for $t {
            #[inline(always)]
            fn sigmoid(self) -> Self {
                1.0 / (1.0 + $exp(-self))
            }
            #[inline(always)]
            fn tanh_act(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn from_f(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn f(self) -> f64 {
                self as f64
            }
            #[inline]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline]
            fn exp_m1(self) -> Self {
                <$t>::exp_m1(self)
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline]
            fn log2(self) -> Self {
                <$t>::log2(self)
            }
            #[inline]
            fn log10(self) -> Self {
                <$t>::log10(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn cbrt(self) -> Self {
                <$t>::cbrt(self)
            }
            #[inline]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline]
            fn tan(self) -> Self {
                <$t>::tan(self)
            }
            #[inline]
            fn asin(self) -> Self {
                <$t>::asin(self)
            }
            #[inline]
            fn acos(self) -> Self {
                <$t>::acos(self)
            }
            #[inline]
            fn atan(self) -> Self {
                <$t>::atan(self)
            }
            #[inline]
            fn sinh(self) -> Self {
                <$t>::sinh(self)
            }
            #[inline]
            fn cosh(self) -> Self {
                <$t>::cosh(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline]
            fn asinh(self) -> Self {
                <$t>::asinh(self)
            }
            #[inline]
            fn acosh(self) -> Self {
                <$t>::acosh(self)
            }
            #[inline]
            fn atanh(self) -> Self {
                <$t>::atanh(self)
            }
            #[inline]
            fn floor(self) -> Self {
                <$t>::floor(self)
            }
            #[inline]
            fn ceil(self) -> Self {
                <$t>::ceil(self)
            }
            #[inline]
            fn trunc(self) -> Self {
                <$t>::trunc(self)
            }
            #[inline]
            fn atan2(self, o: Self) -> Self {
                <$t>::atan2(self, o)
            }
            #[inline]
            fn hypot(self, o: Self) -> Self {
                <$t>::hypot(self, o)
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline]
            fn is_infinite(self) -> bool {
                <$t>::is_infinite(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }
    };
}
real!(f32, exp_f32, tanh_f32);
real!(f64, f64::exp, f64::tanh);

/// e^x without a library call, so that loops over it vectorize: x = n ln2 + r (Cephes' split of
/// ln2), e^r by Cephes' expf polynomial, 2^n applied as two halves so that results down to the
/// subnormals and up to overflow come out right.
#[inline(always)]
#[allow(clippy::excessive_precision)]
fn exp_f32(x: f32) -> f32 {
    const ROUND: f32 = 12582912.0; // 1.5 * 2^23: adding and subtracting it rounds to an integer
    let x = x.clamp(-104.0, 89.0); // NaN passes through

    // The rounded sum holds n in its low mantissa bits: read it there, not by a float-to-int
    // cast, whose saturation keeps the loop from vectorizing.
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * 0.693359375 + n * 2.12194440e-4;
    let p = ((((1.9875691500e-4 * r + 1.3981999507e-3) * r + 8.3334519073e-3) * r
        + 4.1665795894e-2)
        * r
        + 1.6666665459e-1)
        * r
        + 5.0000001201e-1;
    let e = p * (r * r) + r + 1.0;
    let n = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    let pow2 = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    e * pow2(n >> 1) * pow2(n - (n >> 1))
}

/// tanh by Cephes' tanhf: an odd polynomial for |x| < 0.625, else 1 - 2 / (e^2|x| + 1) signed.
#[inline(always)]
#[allow(clippy::excessive_precision)]
fn tanh_f32(x: f32) -> f32 {
    let z = x * x;
    let small = ((((-5.70498872745e-3 * z + 2.06390887954e-2) * z - 5.37397155531e-2) * z
        + 1.33314422036e-1)
        * z
        - 3.33332819422e-1)
        * z
        * x
        + x;
    let a = x.abs();
    let big = (1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 {
        small
    } else {
        big
    }
}

/// Round half to even, as NumPy's `round`/`rint`.
pub fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// The error function to about 1e-15: its Taylor series below 2.5, a continued fraction for erfc above.
pub fn erf(x: f64) -> f64 {
    let ax = x.abs();
    if ax < 2.5 {
        let mut sum = x;
        let mut term = x;
        let x2 = x * x;
        let mut n = 0.0;
        loop {
            n += 1.0;
            term *= -x2 / n;
            let add = term / (2.0 * n + 1.0);
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        return sum * std::f64::consts::FRAC_2_SQRT_PI;
    }
    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
    let mut f = ax;
    for k in (1..60).rev() {
        f = ax + (k as f64 / 2.0) / f;
    }
    let erfc = (-ax * ax).exp() / (f * std::f64::consts::PI.sqrt());
    (1.0 - erfc).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn python_semantics() {
        assert_eq!(<i32 as Num>::floordiv(-7, 2), -4);
        assert_eq!(<i32 as Num>::rem(-7, 2), 1);
        assert_eq!(<i32 as Num>::rem(7, -2), -1);
        assert_eq!(<f64 as Num>::rem(-7.0, 2.0), 1.0);
        assert_eq!(<f64 as Num>::floordiv(1.0, 0.1), 9.0);
        assert_eq!(<f64 as Num>::floordiv(-7.0, 2.0), -4.0);
        assert_eq!(<f32 as Num>::floordiv(7.5, -2.0), -4.0);
        assert!(<f64 as Num>::floordiv(1.0, 0.0).is_infinite());
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(-1.5), -2.0);
        assert!((erf(0.5) - 0.520_499_877_813_046_5).abs() < 1e-14);
        assert!((erf(3.0) - 0.999_977_909_503_001_4).abs() < 1e-14);
        assert!((erf(-1.2) + 0.910_313_978_229_635_4).abs() < 1e-14);
    }

    #[test]
    fn inline_exp_sigmoid_and_tanh_match_the_library() {
        let rel = |a: f32, b: f64| ((a as f64 - b) / b.abs().max(f64::MIN_POSITIVE)).abs();
        let mut x = -110.0f32;
        while x < 95.0 {
            let e = (x as f64).exp();
            if e > f32::MIN_POSITIVE as f64 && e < f32::MAX as f64 {
                assert!(
                    rel(exp_f32(x), e) < 4e-7,
                    "exp({x}) = {} vs {e}",
                    exp_f32(x)
                );
            }
            let s = 1.0 / (1.0 + (-x).exp()); // the library's, in f32
            assert!(
                rel(x.sigmoid(), s as f64) < 5e-7 || x.sigmoid() == s,
                "sigmoid({x})"
            );
            let t = (x as f64).tanh();
            assert!(
                rel(x.tanh_act(), t) < 5e-7 || (x.tanh_act() as f64 - t).abs() < 1e-9,
                "tanh({x})"
            );
            x += 0.0137;
        }
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert_eq!(exp_f32(-120.0), 0.0);
        assert!(exp_f32(f32::NAN).is_nan() && f32::NAN.tanh_act().is_nan());
        assert_eq!(
            (f32::INFINITY.tanh_act(), f32::NEG_INFINITY.tanh_act()),
            (1.0, -1.0)
        );
        assert_eq!(((-200.0f32).sigmoid(), 200.0f32.sigmoid()), (0.0, 1.0));
        assert_eq!(1e-30f32.tanh_act(), 1e-30);
    }
}
