//! Strided batched matrix products on the CPU.
//!
//! f32 and f64 go to a blocked SIMD GEMM; the integer dtypes and bool use a plain loop kernel
//! (NumPy's wrapping integer arithmetic, `or`/`and` for bool). Half floats are computed as f32 by
//! the ops. Operands are read through their row and column strides (transposed, sliced, flipped
//! views), so a transposed view is never copied; only a zero stride along a matrix dimension
//! (a broadcast matrix) is packed first.
//!
//! Which library. Measured on the development machine (AMD EPYC, 2 cores, AVX-512), square
//! products, median of 7, 2 threads (MATMUL_NUM_THREADS=2 / Parallelism::Rayon(2)), release
//! build, machine otherwise quiet (load ~2; under the load of 4 parallel builds every figure
//! dropped by 4-8x):
//!
//! | n    | dtype | gemm 0.19 (default features) | gemm 0.19 + `x86-v4`  | matrixmultiply 0.3 (threading) |
//! |------|-------|------------------------------|-----------------------|--------------------------------|
//! | 16   | f32   | 0.15 us                      | 0.15 us               | 0.24 us                        |
//! | 16   | f64   | 0.22 us                      | 0.15 us               | 0.27 us                        |
//! | 64   | f32   | 4.3 us (121 GFLOP/s)         | 2.3 us (231)          | 3.5 us (151)                   |
//! | 64   | f64   | 8.7 us (60)                  | 4.6 us (115)          | 6.0 us (87)                    |
//! | 256  | f32   | 268 us (125, 1 thread best)  | 134 us (250, 1 thr.)  | 172 us (196)                   |
//! | 256  | f64   | 304 us (110)                 | 308 us (109)          | 201 us (167)                   |
//! | 1024 | f32   | 8.6 ms (251)                 | 4.5 ms (474)          | 5.8 ms (368)                   |
//! | 1024 | f64   | 17.8 ms (121)                | 9.3 ms (231)          | 11.4 ms (189)                  |
//!
//! The workspace builds gemm with its `x86-v4` feature (AVX-512 kernels, picked at run time, so
//! still safe on older CPUs): on a CPU with AVX-512 gemm is the faster at every size but f64 at
//! 256 and takes every product. Without AVX-512, gemm's AVX2 kernels are faster only for tiny
//! products, so matrixmultiply takes those from about 48^3 up (`USE_GEMM_BELOW`).
//!
//! Threads. Neither library runs its own thread pool: a large product is split into blocks of
//! rows or columns that run as single-threaded products on our rayon pool (`split_output`).
//! gemm's own rayon parallelism made two threads slower than one on an AVX-512 Xeon (2 cores,
//! 128x784 . 784x512: 0.94 ms on 2 threads, 0.75 ms on 1; split here, 0.67 ms). With
//! matrixmultiply's pool beside ours, the two sets of threads competed for the same cores: a
//! 2-layer LSTM training step sped up 1.27x from 1 to 2 threads, against torch's 2.1x.
//! Split this way, 2 threads reach the pool's speed (1120x256x1024: 121 GFLOP/s, the same as
//! its own pool's 121-129 measured alongside) and small-m products are faster (32x256x1024:
//! 82 vs 47-67 GFLOP/s).
use crate::backend::cpu::kernel_threads;
use crate::backend::cpu::num::Num;
use crate::{Error, Result};
use rayon::prelude::*;

/// Whether gemm runs its AVX-512 kernels here: it then wins at all sizes.
fn gemm_has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f"); // cached by std
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// Without AVX-512, products with fewer multiply-adds (m*n*k) than this go to `gemm`, larger
/// ones to `matrixmultiply`.
pub const USE_GEMM_BELOW: usize = 48 * 48 * 48;

/// matrixmultiply's products with at least this many multiply-adds are split across threads.
const PAR_PRODUCT_FROM: usize = 64 * 64 * 64;

/// Batches of matrices smaller than this (m*n*k) run one matrix per thread; larger ones run one
/// after the other, each split across threads.
const PAR_BATCH_BELOW: usize = 96 * 96 * 96;

/// One operand of a batched product: the storage, the offset of each batch's matrix, and the
/// row and column strides (in elements, possibly negative or zero).
pub struct MatRef<'a, T> {
    pub data: &'a [T],
    pub offsets: Vec<usize>,
    pub rs: isize,
    pub cs: isize,
}

/// Element types with a matrix-product kernel.
pub trait GemmElem: Num {
    /// `c (m x n, row-major contiguous) = a (m x k) * b (k x n)`, overwriting `c`.
    /// The caller guarantees that every element addressed through the strides is in bounds.
    #[allow(clippy::too_many_arguments)]
    fn kernel(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        ao: usize,
        ars: isize,
        acs: isize,
        b: &[Self],
        bo: usize,
        brs: isize,
        bcs: isize,
        c: &mut [Self],
        threads: usize,
    );
}

/// A pointer the tasks of one product share (they read a and b and write disjoint blocks of c).
#[derive(Clone, Copy)]
struct Shared<T>(*const T);
// SAFETY: see above.
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    fn get(self) -> *const T {
        self.0
    }
}

/// Runs `f(i0, rows, j0, cols)` for `threads` blocks of an m x n product, on the pool: blocks of
/// columns (whole 16-column panels) when the product is wide, else of rows. Each block is an
/// independent single-threaded product, so matrixmultiply needs no thread pool of its own
/// beside ours (two pools on the same cores slowed each other).
fn split_output(
    m: usize,
    n: usize,
    k: usize,
    threads: usize,
    f: impl Fn(usize, usize, usize, usize) + Sync,
) {
    if threads <= 1 || m * n * k < PAR_PRODUCT_FROM {
        return f(0, m, 0, n);
    }
    let (len, align) = if n >= m { (n, 16) } else { (m, 8) };
    let per = len.div_ceil(threads).next_multiple_of(align);
    (0..len.div_ceil(per)).into_par_iter().for_each(|t| {
        let (lo, hi) = (t * per, ((t + 1) * per).min(len));
        if n >= m {
            f(0, m, lo, hi - lo)
        } else {
            f(lo, hi - lo, 0, n)
        }
    });
}

/// Whether gemm's packing of a right operand (`rows x k . k x cols`) would thrash: gemm gathers
/// a k-contiguous operand (row stride 1, as `W^T` of a dense layer) along its column stride, and
/// at a stride of a multiple of 1 KiB those lines fall in a few L1 sets. Such an operand is
/// transposed first (`transposed`). 2 threads, AMD EPYC with AVX-512, x . W^T: 128x512 by
/// 512x512 586 -> 366 us (42 us of it the copy), 128x1024 by 1024x1024 2.80 -> 1.58 ms, 32x256
/// by 256x1024 205 -> 144 us; 1120x256 by 256x1024 unchanged (2.90 ms); a 3136-byte stride
/// (128x784 by 784x512) packs well, 545 against 584 us with the copy, and is left to gemm.
/// matrixmultiply packs both layouts alike (406 vs 371 us) and gets no copy.
fn gathers_badly(rows: usize, brs: isize, bcs: isize, elem: usize) -> bool {
    rows >= 16 && brs == 1 && bcs != 1 && (bcs.unsigned_abs() * elem).is_multiple_of(1024)
}

/// `cols` rows of `k` contiguous values at stride `cs`, as a new row-major k x cols matrix:
/// `blocks` does what it can in registers (see `avx2::transpose_blocks`), a loop the rest.
///
/// # Safety
/// `src` must be readable at every `j * cs + p`.
unsafe fn transposed<T: Copy>(
    src: *const T,
    cs: isize,
    k: usize,
    cols: usize,
    blocks: unsafe fn(*const T, isize, usize, usize, *mut T) -> (usize, usize),
) -> Vec<T> {
    let mut out = Vec::with_capacity(k * cols);
    let o = out.as_mut_ptr();
    let (k8, c8) = blocks(src, cs, k, cols, o);
    for j in 0..cols {
        for p in if j < c8 { k8 } else { 0 }..k {
            *o.add(p * cols + j) = *src.offset(j as isize * cs + p as isize);
        }
    }
    out.set_len(k * cols);
    out
}

/// No register blocks (the loop of `transposed` does it all).
unsafe fn no_blocks<T>(_: *const T, _: isize, _: usize, _: usize, _: *mut T) -> (usize, usize) {
    (0, 0)
}

macro_rules! float_kernel {
    ($t:ty, $mm:path, $blocks:expr) => {
        impl GemmElem for $t {
            fn kernel(
                m: usize,
                n: usize,
                k: usize,
                a: &[$t],
                ao: usize,
                ars: isize,
                acs: isize,
                b: &[$t],
                bo: usize,
                brs: isize,
                bcs: isize,
                c: &mut [$t],
                threads: usize,
            ) {
                debug_assert_eq!(c.len(), m * n);
                if m == 0 || n == 0 {
                    return;
                }
                if k == 0 {
                    c.fill(0.0);
                    return;
                }
                // SAFETY: the caller checked that every addressed element of a and b is in
                // bounds (`check_bounds`), and c holds m*n elements, written row-major.
                unsafe {
                    let (pa, pb, pc) = (a.as_ptr().add(ao), b.as_ptr().add(bo), c.as_mut_ptr());
                    let (pa, pb, pc) = (Shared(pa), Shared(pb), Shared(pc));
                    let small = m * n * k < USE_GEMM_BELOW;
                    split_output(
                        m,
                        n,
                        k,
                        if small { 1 } else { threads },
                        |i0, rows, j0, cols| {
                            // SAFETY: the block (i0.., j0..) is inside the product, and each
                            // task writes its own block of c.
                            let (a, b, c) = (
                                pa.get().offset(i0 as isize * ars),
                                pb.get().offset(j0 as isize * bcs),
                                pc.get().add(i0 * n + j0) as *mut $t,
                            );
                            if small || gemm_has_avx512() {
                                let bt;
                                let (b, brs, bcs) =
                                    if gathers_badly(rows, brs, bcs, size_of::<$t>()) {
                                        bt = transposed(b, bcs, k, cols, $blocks);
                                        (bt.as_ptr(), cols as isize, 1)
                                    } else {
                                        (b, brs, bcs)
                                    };
                                gemm::gemm(
                                    rows,
                                    cols,
                                    k,
                                    c,
                                    1,
                                    n as isize,
                                    false,
                                    a,
                                    acs,
                                    ars,
                                    b,
                                    bcs,
                                    brs,
                                    0.0,
                                    1.0,
                                    false,
                                    false,
                                    false,
                                    gemm::Parallelism::None,
                                );
                            } else {
                                $mm(
                                    rows, k, cols, 1.0, a, ars, acs, b, brs, bcs, 0.0, c,
                                    n as isize, 1,
                                );
                            }
                        },
                    );
                }
            }
        }
    };
}
float_kernel!(
    f32,
    matrixmultiply::sgemm,
    crate::backend::cpu::avx2::transpose_blocks
);
float_kernel!(f64, matrixmultiply::dgemm, no_blocks);

macro_rules! loop_kernel {
    ($($t:ty),*) => {$(
        impl GemmElem for $t {
            fn kernel(
                m: usize,
                n: usize,
                k: usize,
                a: &[$t],
                ao: usize,
                ars: isize,
                acs: isize,
                b: &[$t],
                bo: usize,
                brs: isize,
                bcs: isize,
                c: &mut [$t],
                _threads: usize,
            ) {
                loop_gemm(m, n, k, a, ao, ars, acs, b, bo, brs, bcs, c)
            }
        }
    )*};
}
loop_kernel!(i8, u8, i32, i64, bool);

/// The reference kernel: `c[i, :] += a[i, p] * b[p, :]`, in the element type's own arithmetic.
#[allow(clippy::too_many_arguments)]
fn loop_gemm<T: Num>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    ao: usize,
    ars: isize,
    acs: isize,
    b: &[T],
    bo: usize,
    brs: isize,
    bcs: isize,
    c: &mut [T],
) {
    let at = |i: usize, p: usize| a[(ao as isize + i as isize * ars + p as isize * acs) as usize];
    let bt = |p: usize, j: usize| b[(bo as isize + p as isize * brs + j as isize * bcs) as usize];
    c.fill(T::zero());
    if n == 0 {
        return;
    }
    for (i, row) in c.chunks_mut(n).enumerate().take(m) {
        for p in 0..k {
            let x = at(i, p);
            for (j, o) in row.iter_mut().enumerate() {
                *o = T::add(*o, T::mul(x, bt(p, j)));
            }
        }
    }
}

/// Lowest and highest storage offsets a (rows x cols) matrix at `off` with strides (rs, cs) reads.
fn extent(off: usize, rows: usize, cols: usize, rs: isize, cs: isize) -> (isize, isize) {
    let (mut lo, mut hi) = (off as isize, off as isize);
    for (d, s) in [(rows, rs), (cols, cs)] {
        let span = (d.saturating_sub(1)) as isize * s;
        if span < 0 {
            lo += span
        } else {
            hi += span
        }
    }
    (lo, hi)
}

fn check_bounds<T>(what: &str, m: &MatRef<'_, T>, rows: usize, cols: usize) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    for &o in &m.offsets {
        let (lo, hi) = extent(o, rows, cols, m.rs, m.cs);
        if lo < 0 || hi >= m.data.len() as isize {
            return Err(Error::index(
                "matmul",
                format!(
                    "{what} operand reads past its storage (offset {o}, {rows}x{cols}, strides \
                     ({}, {}), storage of {} elements)",
                    m.rs,
                    m.cs,
                    m.data.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Strides of size-1 dimensions are arbitrary in a layout: give them values the libraries like.
fn tidy_strides(rows: usize, cols: usize, rs: isize, cs: isize) -> (isize, isize) {
    let cs = if cols <= 1 { 1 } else { cs };
    let rs = if rows <= 1 {
        cs.abs() * cols.max(1) as isize
    } else {
        rs
    };
    (rs, cs)
}

/// A broadcast (zero-stride) matrix dimension: packed into a contiguous copy first.
fn packed<'a, T: Copy>(
    m: &MatRef<'a, T>,
    rows: usize,
    cols: usize,
    store: &'a mut Vec<T>,
) -> Option<MatRef<'a, T>> {
    let zero = (rows > 1 && m.rs == 0) || (cols > 1 && m.cs == 0);
    if !zero {
        return None;
    }
    let per = rows * cols;
    store.clear();
    store.reserve(per * m.offsets.len());
    for &o in &m.offsets {
        for i in 0..rows {
            for j in 0..cols {
                store.push(m.data[(o as isize + i as isize * m.rs + j as isize * m.cs) as usize]);
            }
        }
    }
    let offsets = (0..m.offsets.len()).map(|b| b * per).collect();
    Some(MatRef {
        data: store,
        offsets,
        rs: cols as isize,
        cs: 1,
    })
}

/// `out[b] = a[b] (m x k) @ b[b] (k x n)` for every batch `b`; `out` is contiguous
/// (batch, m, n). `a.offsets` and `b.offsets` have one entry per batch (repeat an offset to
/// broadcast a matrix over the batch).
pub fn batched_gemm<T: GemmElem>(
    m: usize,
    n: usize,
    k: usize,
    a: &MatRef<'_, T>,
    b: &MatRef<'_, T>,
    out: &mut [T],
) -> Result<()> {
    let batch = a.offsets.len();
    if b.offsets.len() != batch || out.len() != batch * m * n {
        return Err(Error::shape(
            "matmul",
            format!(
                "batched product of {batch} and {} matrices into {} elements ({m}x{n} each)",
                b.offsets.len(),
                out.len()
            ),
        ));
    }
    if m == 0 || n == 0 || batch == 0 {
        return Ok(());
    }
    check_bounds("first", a, m, k)?;
    check_bounds("second", b, k, n)?;
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    let pa = packed(a, m, k, &mut sa);
    let pb = packed(b, k, n, &mut sb);
    let a = pa.as_ref().unwrap_or(a);
    let b = pb.as_ref().unwrap_or(b);
    let (ars, acs) = tidy_strides(m, k, a.rs, a.cs);
    let (brs, bcs) = tidy_strides(k, n, b.rs, b.cs);
    let threads = kernel_threads();
    let one = |i: usize, c: &mut [T], threads: usize| {
        T::kernel(
            m,
            n,
            k,
            a.data,
            a.offsets[i],
            ars,
            acs,
            b.data,
            b.offsets[i],
            brs,
            bcs,
            c,
            threads,
        )
    };
    if batch > 1 && threads > 1 && m * n * k < PAR_BATCH_BELOW && batch * m * n * k >= 1 << 15 {
        out.par_chunks_mut(m * n)
            .enumerate()
            .for_each(|(i, c)| one(i, c, 1));
    } else {
        for (i, c) in out.chunks_mut(m * n).enumerate() {
            one(i, c, threads);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(m: usize, n: usize, k: usize, a: &[f64], b: &[f64]) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * k + p] * b[p * n + j];
                }
            }
        }
        c
    }

    #[test]
    fn float_sizes_and_strides() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (3, 5, 7),
            (17, 9, 33),
            (64, 64, 64),
            (70, 50, 40),
        ] {
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
            let b: Vec<f64> = (0..k * n).map(|i| ((i * 5) % 13) as f64 - 6.0).collect();
            let want = reference(m, n, k, &a, &b);
            // row-major
            let mut c = vec![0.0f64; m * n];
            let ra = MatRef {
                data: &a,
                offsets: vec![0],
                rs: k as isize,
                cs: 1,
            };
            let rb = MatRef {
                data: &b,
                offsets: vec![0],
                rs: n as isize,
                cs: 1,
            };
            batched_gemm(m, n, k, &ra, &rb, &mut c).unwrap();
            assert_eq!(c, want);
            // a stored transposed (column-major), as f32
            let at: Vec<f32> = (0..k * m).map(|q| a[(q % m) * k + q / m] as f32).collect();
            let bf: Vec<f32> = b.iter().map(|&x| x as f32).collect();
            let mut c32 = vec![0.0f32; m * n];
            let ra = MatRef {
                data: &at,
                offsets: vec![0],
                rs: 1,
                cs: m as isize,
            };
            let rb = MatRef {
                data: &bf,
                offsets: vec![0],
                rs: n as isize,
                cs: 1,
            };
            batched_gemm(m, n, k, &ra, &rb, &mut c32).unwrap();
            assert_eq!(c32.iter().map(|&x| x as f64).collect::<Vec<_>>(), want);
            // integers, and a broadcast (zero-stride) b over a batch of 2
            let ai: Vec<i64> = a.iter().map(|&x| x as i64).collect();
            let bi: Vec<i64> = b.iter().map(|&x| x as i64).collect();
            let mut ci = vec![0i64; 2 * m * n];
            let ra = MatRef {
                data: &ai,
                offsets: vec![0, 0],
                rs: k as isize,
                cs: 1,
            };
            let rb = MatRef {
                data: &bi,
                offsets: vec![0, 0],
                rs: n as isize,
                cs: 1,
            };
            batched_gemm(m, n, k, &ra, &rb, &mut ci).unwrap();
            assert_eq!(
                ci[m * n..].iter().map(|&x| x as f64).collect::<Vec<_>>(),
                want
            );
        }
    }

    /// `x . W^T` with W's rows at a stride gemm packs badly (`gathers_badly`): the operand is
    /// transposed first, in 8x8 register blocks and a loop for the edges (k = 250 and n = 45 are
    /// not multiples of 8; the rows of W are 256 apart, a 1 KiB stride in f32, 2 KiB in f64).
    #[test]
    fn k_contiguous_right_operand_at_an_aliasing_stride() {
        let (m, n, k, ld) = (20, 45, 250, 256);
        let x: Vec<f64> = (0..m * k).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
        let w: Vec<f64> = (0..n * ld).map(|i| ((i * 5) % 13) as f64 - 6.0).collect();
        let b: Vec<f64> = (0..k * n).map(|q| w[(q % n) * ld + q / n]).collect();
        let want = reference(m, n, k, &x, &b);
        assert!(gathers_badly(m, 1, ld as isize, 4) && gathers_badly(m, 1, ld as isize, 8));
        fn mat<T>(data: &[T], rs: usize, cs: usize) -> MatRef<'_, T> {
            let (rs, cs) = (rs as isize, cs as isize);
            MatRef {
                data,
                offsets: vec![0],
                rs,
                cs,
            }
        }
        let mut c = vec![0.0f64; m * n];
        batched_gemm(m, n, k, &mat(&x, k, 1), &mat(&w, 1, ld), &mut c).unwrap();
        assert_eq!(c, want);
        let (x32, w32): (Vec<f32>, Vec<f32>) = (
            x.iter().map(|&v| v as f32).collect(),
            w.iter().map(|&v| v as f32).collect(),
        );
        let mut c32 = vec![0.0f32; m * n];
        batched_gemm(m, n, k, &mat(&x32, k, 1), &mat(&w32, 1, ld), &mut c32).unwrap();
        assert_eq!(c32.iter().map(|&v| v as f64).collect::<Vec<_>>(), want);
    }

    #[test]
    fn products_split_across_threads() {
        // wide (column blocks, a partial one) and tall (row blocks), row-major and transposed a
        for &(m, n, k, at) in &[
            (70, 130, 40, false),
            (150, 60, 50, true),
            (33, 200, 70, true),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 13) as f32 - 6.0).collect();
            let want: Vec<f32> = {
                let ad: Vec<f64> = a.iter().map(|&x| x as f64).collect();
                let bd: Vec<f64> = b.iter().map(|&x| x as f64).collect();
                let r = reference(m, n, k, &ad, &bd);
                r.iter().map(|&x| x as f32).collect()
            };
            // a is read as (m x k): stored row-major, or as the transpose of a (k x m) matrix
            let at_store: Vec<f32> = (0..k * m).map(|q| a[(q % m) * k + q / m]).collect();
            let (data, rs, cs) = if at {
                (&at_store, 1, m as isize)
            } else {
                (&a, k as isize, 1)
            };
            for threads in [2, 3] {
                let mut c = vec![f32::NAN; m * n];
                f32::kernel(
                    m, n, k, data, 0, rs, cs, &b, 0, n as isize, 1, &mut c, threads,
                );
                assert_eq!(c, want, "({m}, {n}, {k}), {threads} threads");
            }
        }
    }

    #[test]
    fn out_of_bounds_is_an_error() {
        let a = vec![1.0f32; 4];
        let mut c = vec![0.0f32; 4];
        let ra = MatRef {
            data: &a,
            offsets: vec![1],
            rs: 2,
            cs: 1,
        };
        let rb = MatRef {
            data: &a,
            offsets: vec![0],
            rs: 2,
            cs: 1,
        };
        assert!(batched_gemm(2, 2, 2, &ra, &rb, &mut c).is_err());
    }
}
