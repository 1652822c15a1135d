//! float32 register-tile kernels for x86-64 CPUs with AVX2 and FMA (and AVX-512 where the CPU
//! has it), and a matrix product whose right operand is packed once and multiplied many times (a
//! recurrent weight, every time step).
//!
//! One micro kernel serves the direct convolution (`direct_conv.rs`) and the packed product:
//! `y[i, j] = sum_q a[q * MR + i] * x[off[q] + j]`, MR rows broadcast from a packed operand, one
//! or two vectors of columns loaded from the other at a per-step offset, the tile of sums kept in
//! registers over the whole reduction: twelve ymm (8 lanes) or, with AVX-512, 24 zmm (16 lanes).
//! On a 2-core AVX-512 Xeon (noisy), one 3x3 convolution of 32x64x32x32 with 64 filters took
//! 27-32 ms with the ymm tiles and 15-20 ms with the zmm ones, PyTorch 11.6-12.4 ms alongside.
use rayon::prelude::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Whether this CPU runs the kernels.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// The widest vector the kernels use here, in floats: 16 with AVX-512, else 8.
pub fn max_lanes() -> usize {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        return 16;
    }
    8
}

/// The kernel of one tile shape: `micro512` or `micro` at one MR x NV.
#[cfg(target_arch = "x86_64")]
type Micro = unsafe fn(usize, *const f32, *const f32, *const usize, *mut f32, usize);

/// Defines `tile_heights` and the kernel of each (lanes, nv, height) from one table.
macro_rules! tiles {
    ($(#[$doc:meta])* $($lanes:literal x $nv:literal: $kernel:ident [$($mr:literal),+];)+) => {
        $(#[$doc])*
        pub fn tile_heights(lanes: usize, nv: usize) -> &'static [usize] {
            match (lanes, nv) {
                $(($lanes, $nv) => &[$($mr),+],)+
                _ => unreachable!("no tiles of {nv} vectors of {lanes} lanes"),
            }
        }

        #[cfg(target_arch = "x86_64")]
        fn micro_for(lanes: usize, nv: usize, mr: usize) -> Micro {
            match (lanes, nv, mr) {
                $($(($lanes, $nv, $mr) => $kernel::<$mr, $nv>,)+)+
                _ => unreachable!("no {mr} x {nv} tile of {lanes} lanes (see tile_heights)"),
            }
        }
    };
}

tiles! {
    /// The tile heights `tile` runs for `nv` vectors of `lanes` floats, tallest first: the
    /// tallest keeps the most sums in registers (24 zmm with AVX-512, 12 ymm with AVX2), the
    /// shorter ones waste fewer rows on a filter count the tallest does not divide (64 filters:
    /// 6 tiles of 12 compute 72 rows, 8 of 8 compute 64). Against the tallest alone (2-core
    /// AVX-512 Xeon, both builds in one process, calls alternated, median of the per-call
    /// ratios): 64x20x12x12 5x5 to 50 filters 0.87-0.90 of the time (10-row ymm tiles),
    /// 32x64x32x32 3x3 to 64 filters 0.97-0.99 (8 x 2 zmm).
    16 x 2: micro512 [12, 10, 8];
    16 x 1: micro512 [24, 20, 16];
    8 x 2: micro [6, 5, 4];
    8 x 1: micro [12, 10, 8];
}

/// The tile height of `nv` vectors of `lanes` floats for `rows` rows: the one that computes the
/// fewest rows (the tallest among equals).
pub fn tile_height(lanes: usize, nv: usize, rows: usize) -> usize {
    let hs = tile_heights(lanes, nv);
    let computed = |h: usize| rows.div_ceil(h) * h;
    hs.iter()
        .fold(hs[0], |b, &h| if computed(h) < computed(b) { h } else { b })
}

/// Packs rows `r0..r0 + rows` (of a matrix read by `at(row, q)`) for the kernel:
/// `dst[q * mr + i] = at(r0 + i, q)` for q < kc, zero for rows past `rows`.
pub fn pack_rows(
    dst: &mut [f32],
    kc: usize,
    mr: usize,
    rows: usize,
    at: impl Fn(usize, usize) -> f32,
) {
    dst[..kc * mr].fill(0.0);
    for i in 0..rows {
        for q in 0..kc {
            dst[q * mr + i] = at(i, q);
        }
    }
}
/// An output shared by tasks that write disjoint elements of it.
#[derive(Clone, Copy)]
pub struct Ptr(pub *mut f32);
// SAFETY: the tasks that share it write disjoint elements.
unsafe impl Send for Ptr {}
unsafe impl Sync for Ptr {}

impl Ptr {
    pub fn at(self, o: usize) -> *mut f32 {
        // SAFETY: callers stay inside the output buffer.
        unsafe { self.0.add(o) }
    }
}

/// A (k x n) right operand packed once for many products `a . b`: panels of `nr` columns (two
/// vectors), `data[panel][q][nr]`, zero past column n.
pub struct PackedB {
    data: Vec<f32>,
    k: usize,
    n: usize,
    lanes: usize,
    /// The kernel's per-step offsets into a panel: q * nr.
    off: Vec<usize>,
}

impl PackedB {
    /// Packs `b(q, j)`, q < k, j < n, the panels shared among `threads`. Requires `available()`.
    pub fn new(
        k: usize,
        n: usize,
        threads: usize,
        b: impl Fn(usize, usize) -> f32 + Sync,
    ) -> PackedB {
        Self::with_lanes(max_lanes(), k, n, threads, b)
    }

    fn with_lanes(
        lanes: usize,
        k: usize,
        n: usize,
        threads: usize,
        b: impl Fn(usize, usize) -> f32 + Sync,
    ) -> PackedB {
        let nr = 2 * lanes;
        let mut data = vec![0f32; n.div_ceil(nr) * k * nr];
        let panel = |(p, dst): (usize, &mut [f32])| {
            for j in 0..nr.min(n - p * nr) {
                for q in 0..k {
                    dst[q * nr + j] = b(q, p * nr + j);
                }
            }
        };
        let len = k.max(1) * nr;
        if threads > 1 && k * n >= 1 << 16 {
            data.par_chunks_mut(len).enumerate().for_each(panel);
        } else {
            data.chunks_mut(len).enumerate().for_each(panel);
        }
        let off = (0..k).map(|q| q * nr).collect();
        PackedB {
            data,
            k,
            n,
            lanes,
            off,
        }
    }

    /// `c (m x n, row-major) = a (m x k, row-major) . b`, overwriting c; the column panels are
    /// shared among `threads`.
    pub fn left_mul(&self, m: usize, a: &[f32], c: &mut [f32], threads: usize) {
        let (k, n) = (self.k, self.n);
        assert!(a.len() == m * k && c.len() == m * n && available());
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            c.fill(0.0);
            return;
        }
        let (lanes, nr) = (self.lanes, 2 * self.lanes);
        let mr = tile_height(lanes, 2, m);
        let rpanels = m.div_ceil(mr);
        let mut ap = vec![0f32; rpanels * k * mr];
        for (i, dst) in ap.chunks_mut(k * mr).enumerate() {
            let r0 = i * mr;
            pack_rows(dst, k, mr, mr.min(m - r0), |r, q| a[(r0 + r) * k + q]);
        }
        let out = Ptr(c.as_mut_ptr());
        let cpanels = n.div_ceil(nr);
        let run = |j: usize| {
            let (bp, cols) = (&self.data[j * k * nr..][..k * nr], nr.min(n - j * nr));
            for (i, a) in ap.chunks(k * mr).enumerate() {
                let rows = mr.min(m - i * mr);
                // SAFETY: the packed panels hold k steps of mr resp. nr values, offsets are
                // below k * nr, and the tile writes rows x cols of c at (i * mr, j * nr).
                unsafe {
                    let y = out.at(i * mr * n + j * nr);
                    tile(
                        lanes,
                        2,
                        mr,
                        k,
                        a.as_ptr(),
                        bp.as_ptr(),
                        self.off.as_ptr(),
                        y,
                        n,
                        rows,
                        cols,
                    );
                }
            }
        };
        if threads > 1 && cpanels > 1 && m * n * k >= 1 << 16 {
            let per = cpanels.div_ceil(threads);
            (0..threads).into_par_iter().for_each(|t| {
                (t * per..((t + 1) * per).min(cpanels)).for_each(run);
            });
        } else {
            (0..cpanels).for_each(run);
        }
    }
}

/// One tile: `y[i * ldy + j] = sum_q w[q * MR + i] * x[off[q] + j]` for i < rows, j < cols,
/// with MR = `mr` (one of `tile_heights(lanes, nv)`) filters and lanes * nv columns (lanes 8,
/// or 16 where `max_lanes()` is 16; nv 1 or 2).
///
/// # Safety
/// The CPU has AVX2 and FMA (`available`), and AVX-512 for lanes 16; `w` holds kc * MR values,
/// `off` kc offsets, every `x[off[q] .. off[q] + lanes * nv]` is readable, and `y` is writable
/// for rows x cols at row stride ldy.
#[allow(clippy::too_many_arguments)]
pub unsafe fn tile(
    lanes: usize,
    nv: usize,
    mr: usize,
    kc: usize,
    w: *const f32,
    x: *const f32,
    off: *const usize,
    y: *mut f32,
    ldy: usize,
    rows: usize,
    cols: usize,
) {
    let mut t = [0f32; 24 * 16];
    let full = rows == mr && cols == lanes * nv;
    let (dst, ld) = if full {
        (y, ldy)
    } else {
        (t.as_mut_ptr(), lanes * nv)
    };
    #[cfg(target_arch = "x86_64")]
    micro_for(lanes, nv, mr)(kc, w, x, off, dst, ld);
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the kernels run only where `available` (x86-64)");
    if !full {
        for i in 0..rows {
            std::ptr::copy_nonoverlapping(t.as_ptr().add(i * ld), y.add(i * ldy), cols);
        }
    }
}

/// The backward of one row of 2x2 stride-2 max-pooling windows, 16 windows a vector: window j
/// covers `x0[2j..2j + 2]` and `x1[2j..2j + 2]`, its maximum is `m[j]` and its gradient `g[j]`,
/// which goes to the first of its four positions equal to the maximum (the first NaN when it is
/// NaN); the other three get 0. False where the CPU lacks AVX-512 (nothing written).
pub fn max22_bwd_row([x0, x1, m, g]: [&[f32]; 4], [d0, d1]: [&mut [f32]; 2]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if max_lanes() == 16 {
        let n = m.len();
        assert!(g.len() == n && x0.len().min(x1.len()).min(d0.len()).min(d1.len()) >= 2 * n);
        // SAFETY: the CPU has AVX-512; the kernel reads and writes 2n values of the x and d
        // rows and n of m and g, all checked above.
        unsafe {
            max22_bwd_512(
                n,
                [x0.as_ptr(), x1.as_ptr(), m.as_ptr(), g.as_ptr()],
                d0,
                d1,
            );
        }
        return true;
    }
    false
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn max22_bwd_512(n: usize, [x0, x1, m, g]: [*const f32; 4], d0: &mut [f32], d1: &mut [f32]) {
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    let first = |k: usize| -> __mmask16 { ((1u32 << k.min(16)) - 1) as u16 };
    let (d0, d1) = (d0.as_mut_ptr(), d1.as_mut_ptr());
    for j in (0..n).step_by(16) {
        let k = (n - j).min(16);
        // Masked loads and stores: the last vector of a row may hold fewer than 16 windows.
        let (wm, ma, mb) = (first(k), first(2 * k), first((2 * k).saturating_sub(16)));
        let pair = |p: *const f32| {
            let (a, b) = (
                _mm512_maskz_loadu_ps(ma, p.add(2 * j)),
                _mm512_maskz_loadu_ps(mb, p.add(2 * j + 16)),
            );
            (
                _mm512_permutex2var_ps(a, even, b),
                _mm512_permutex2var_ps(a, odd, b),
            )
        };
        let ((a, b), (c, _)) = (pair(x0), pair(x1));
        let (mv, gv) = (
            _mm512_maskz_loadu_ps(wm, m.add(j)),
            _mm512_maskz_loadu_ps(wm, g.add(j)),
        );
        let hit =
            |v| _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(v, mv) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
        let h0 = hit(a);
        let h1 = !h0 & hit(b);
        let h2 = !(h0 | h1) & hit(c);
        let h3 = !(h0 | h1 | h2);
        let put = |dst: *mut f32, (e, o): (__mmask16, __mmask16)| {
            let (e, o) = (_mm512_maskz_mov_ps(e, gv), _mm512_maskz_mov_ps(o, gv));
            _mm512_mask_storeu_ps(dst.add(2 * j), ma, _mm512_permutex2var_ps(e, lo, o));
            _mm512_mask_storeu_ps(dst.add(2 * j + 16), mb, _mm512_permutex2var_ps(e, hi, o));
        };
        put(d0, (h0, h1));
        put(d1, (h2, h3));
    }
}

/// The micro kernel for one vector type: MR rows x NV vectors of `$lanes` floats.
macro_rules! micro_kernel {
    ($name:ident, $feature:literal, $lanes:literal, $zero:ident, $load:ident, $splat:ident,
     $fma:ident, $store:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name<const MR: usize, const NV: usize>(
            kc: usize,
            w: *const f32,
            x: *const f32,
            off: *const usize,
            y: *mut f32,
            ldy: usize,
        ) {
            let mut r = [[$zero(); NV]; MR];
            let mut w = w;
            for q in 0..kc {
                let xq = x.add(*off.add(q));
                let mut b = [$zero(); NV];
                for (v, bv) in b.iter_mut().enumerate() {
                    *bv = $load(xq.add($lanes * v));
                }
                for (i, ri) in r.iter_mut().enumerate() {
                    let a = $splat(*w.add(i));
                    for v in 0..NV {
                        ri[v] = $fma(a, b[v], ri[v]);
                    }
                }
                w = w.add(MR);
            }
            for (i, ri) in r.iter().enumerate() {
                for (v, rv) in ri.iter().enumerate() {
                    $store(y.add(i * ldy + $lanes * v), *rv);
                }
            }
        }
    };
}
micro_kernel!(
    micro,
    "avx2,fma",
    8,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps
);
micro_kernel!(
    micro512,
    "avx512f",
    16,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps
);

/// The whole 8x8 blocks of a transposition, in ymm registers: `out[p * cols + j] =
/// src[j * cs + p]` for `p < k8`, `j < c8`, returning `(k8, c8)`: `k` and `cols` rounded down to
/// multiples of 8, or (0, 0) where the CPU lacks AVX (the caller does the rest).
///
/// # Safety
/// `src` must be readable at every `j * cs + p` and `out` writable at `k * cols` floats.
pub unsafe fn transpose_blocks(
    src: *const f32,
    cs: isize,
    k: usize,
    cols: usize,
    out: *mut f32,
) -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx") {
        let (k8, c8) = (k / 8 * 8, cols / 8 * 8);
        for j in (0..c8).step_by(8) {
            for p in (0..k8).step_by(8) {
                transpose8(
                    src.offset(j as isize * cs + p as isize),
                    cs,
                    out.add(p * cols + j),
                    cols,
                );
            }
        }
        return (k8, c8);
    }
    (0, 0)
}

/// One 8x8 block of `transpose_blocks`: rows of `src` at stride `ld` to rows of `out` at stride `ldo`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose8(src: *const f32, ld: isize, out: *mut f32, ldo: usize) {
    // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves swapped (loops,
    // not closures: intrinsics in a closure would not inherit this function's target feature).
    let mut r = [_mm256_setzero_ps(); 8];
    for (i, v) in r.iter_mut().enumerate() {
        *v = _mm256_loadu_ps(src.offset(i as isize * ld));
    }
    let mut t = r;
    for i in 0..4 {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut u = t;
    for k in 0..4 {
        let (a, b) = (t[k / 2 * 4 + k % 2], t[k / 2 * 4 + k % 2 + 2]);
        u[2 * k] = _mm256_shuffle_ps::<0x44>(a, b);
        u[2 * k + 1] = _mm256_shuffle_ps::<0xEE>(a, b);
    }
    for i in 0..4 {
        _mm256_storeu_ps(
            out.add(i * ldo),
            _mm256_permute2f128_ps::<0x20>(u[i], u[i + 4]),
        );
        _mm256_storeu_ps(
            out.add((i + 4) * ldo),
            _mm256_permute2f128_ps::<0x31>(u[i], u[i + 4]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_product_matches_the_definition() {
        if !available() {
            return;
        }
        // partial row panels and column panels, k = 0, 1, threaded sizes (product, packing)
        for &(m, n, k) in &[
            (1, 1, 1),
            (7, 37, 5),
            (6, 16, 3),
            (33, 100, 40),
            (4, 3, 0),
            (5, 300, 256),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 13) as f32 - 6.0).collect();
            // both tile widths this CPU runs
            for (lanes, threads) in [(8, 1), (8, 2), (max_lanes(), 1), (max_lanes(), 2)] {
                let p = PackedB::with_lanes(lanes, k, n, 2, |q, j| b[q * n + j]);
                let mut c = vec![f32::NAN; m * n];
                p.left_mul(m, &a, &mut c, threads);
                for i in 0..m {
                    for j in 0..n {
                        let want: f32 = (0..k).map(|q| a[i * k + q] * b[q * n + j]).sum();
                        assert_eq!(c[i * n + j], want, "({m}, {n}, {k}) at ({i}, {j}), {lanes}");
                    }
                }
            }
        }
    }
}
