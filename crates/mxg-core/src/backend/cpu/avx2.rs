//! float32 register-tile kernels for x86-64 CPUs with AVX2 and FMA, and a matrix product whose
//! right operand is packed once and multiplied many times (a recurrent weight, every time step).
//!
//! One micro kernel serves the direct convolution (`direct_conv.rs`) and the packed product:
//! `y[i, j] = sum_q a[q * MR + i] * x[off[q] + j]`, MR rows broadcast from a packed operand, 8 or
//! 16 columns loaded from the other at a per-step offset, the MR x (8 * NV) tile of sums kept in
//! twelve ymm registers over the whole reduction.
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

/// A (k x n) right operand packed once for many products `a . b`: panels of 16 columns,
/// `data[panel][q][16]`, zero past column n.
pub struct PackedB {
    data: Vec<f32>,
    k: usize,
    n: usize,
    /// The kernel's per-step offsets into a panel: q * 16.
    off: Vec<usize>,
}

const NR: usize = 16;
const GEMM_MR: usize = 6;

impl PackedB {
    /// Packs `b(q, j)`, q < k, j < n, the panels shared among `threads`. Requires `available()`.
    pub fn new(
        k: usize,
        n: usize,
        threads: usize,
        b: impl Fn(usize, usize) -> f32 + Sync,
    ) -> PackedB {
        let mut data = vec![0f32; n.div_ceil(NR) * k * NR];
        let panel = |(p, dst): (usize, &mut [f32])| {
            for j in 0..NR.min(n - p * NR) {
                for q in 0..k {
                    dst[q * NR + j] = b(q, p * NR + j);
                }
            }
        };
        let len = k.max(1) * NR;
        if threads > 1 && k * n >= 1 << 16 {
            data.par_chunks_mut(len).enumerate().for_each(panel);
        } else {
            data.chunks_mut(len).enumerate().for_each(panel);
        }
        let off = (0..k).map(|q| q * NR).collect();
        PackedB { data, k, n, off }
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
        let rpanels = m.div_ceil(GEMM_MR);
        let mut ap = vec![0f32; rpanels * k * GEMM_MR];
        for (i, dst) in ap.chunks_mut(k * GEMM_MR).enumerate() {
            let r0 = i * GEMM_MR;
            pack_rows(dst, k, GEMM_MR, GEMM_MR.min(m - r0), |r, q| {
                a[(r0 + r) * k + q]
            });
        }
        let out = Ptr(c.as_mut_ptr());
        let cpanels = n.div_ceil(NR);
        let run = |j: usize| {
            let (bp, cols) = (&self.data[j * k * NR..][..k * NR], NR.min(n - j * NR));
            for (i, a) in ap.chunks(k * GEMM_MR).enumerate() {
                let rows = GEMM_MR.min(m - i * GEMM_MR);
                // SAFETY: the packed panels hold k steps of GEMM_MR resp. NR values, offsets
                // are below k * NR, and the tile writes rows x cols of c at (i * MR, j * NR).
                unsafe {
                    let y = out.at(i * GEMM_MR * n + j * NR);
                    tile(
                        2,
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
/// with MR = 12 / nv filters and 8 * nv columns (nv is 1 or 2).
///
/// # Safety
/// The CPU has AVX2 and FMA (`available`); `w` holds kc * MR values, `off` kc offsets, every
/// `x[off[q] .. off[q] + 8 * nv]` is readable, and `y` is writable for rows x cols at row
/// stride ldy.
#[allow(clippy::too_many_arguments)]
pub unsafe fn tile(
    nv: usize,
    kc: usize,
    w: *const f32,
    x: *const f32,
    off: *const usize,
    y: *mut f32,
    ldy: usize,
    rows: usize,
    cols: usize,
) {
    let mut t = [0f32; 12 * 8];
    let full = if nv == 2 {
        rows == 6 && cols == 16
    } else {
        rows == 12 && cols == 8
    };
    let (dst, ld) = if full {
        (y, ldy)
    } else {
        (t.as_mut_ptr(), 8 * nv)
    };
    #[cfg(target_arch = "x86_64")]
    if nv == 2 {
        micro::<6, 2>(kc, w, x, off, dst, ld);
    } else {
        micro::<12, 1>(kc, w, x, off, dst, ld);
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the kernels run only where `available` (x86-64)");
    if !full {
        for i in 0..rows {
            std::ptr::copy_nonoverlapping(t.as_ptr().add(i * ld), y.add(i * ldy), cols);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn micro<const MR: usize, const NV: usize>(
    kc: usize,
    w: *const f32,
    x: *const f32,
    off: *const usize,
    y: *mut f32,
    ldy: usize,
) {
    let mut r = [[_mm256_setzero_ps(); NV]; MR];
    let mut w = w;
    for q in 0..kc {
        let xq = x.add(*off.add(q));
        let mut b = [_mm256_setzero_ps(); NV];
        for (v, bv) in b.iter_mut().enumerate() {
            *bv = _mm256_loadu_ps(xq.add(8 * v));
        }
        for (i, ri) in r.iter_mut().enumerate() {
            let a = _mm256_broadcast_ss(&*w.add(i));
            for v in 0..NV {
                ri[v] = _mm256_fmadd_ps(a, b[v], ri[v]);
            }
        }
        w = w.add(MR);
    }
    for (i, ri) in r.iter().enumerate() {
        for (v, rv) in ri.iter().enumerate() {
            _mm256_storeu_ps(y.add(i * ldy + 8 * v), *rv);
        }
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
            // b stored transposed, as a recurrent weight is
            let p = PackedB::new(k, n, 2, |q, j| b[q * n + j]);
            for threads in [1, 2] {
                let mut c = vec![f32::NAN; m * n];
                p.left_mul(m, &a, &mut c, threads);
                for i in 0..m {
                    for j in 0..n {
                        let want: f32 = (0..k).map(|q| a[i * k + q] * b[q * n + j]).sum();
                        assert_eq!(c[i * n + j], want, "({m}, {n}, {k}) at ({i}, {j})");
                    }
                }
            }
        }
    }
}
