//! CPU kernels. Generic over the element type; strided views are read through their layouts,
//! with fast paths for contiguous data and rayon above a size threshold.
use crate::layout::{numel, Layout};
use crate::storage::{CpuElement, CpuStorage};
use crate::{with_dtype, DType, Element};
use rayon::prelude::*;
use std::sync::OnceLock;

pub mod avx2;
pub mod direct_conv;
pub mod matmul;
pub mod num;

/// Elementwise loops shorter than this run on one thread.
pub const PAR_THRESHOLD: usize = 1 << 15;

/// Worker threads: `MXNET_CPU_WORKER_NTHREADS`, else `OMP_NUM_THREADS`, else all cores; 1 in a
/// forked child (see `forked`).
pub fn num_threads() -> usize {
    let (n, _) = pool();
    if n > 1 && forked() {
        return 1;
    }
    n
}

/// Threads a kernel called here may use: 1 from a task of the pool (an op already parallel
/// over its batch or directions keeps each piece on its thread), else `num_threads()`; also
/// `num_threads()` on the pool thread that runs a whole op (`on_pool`).
pub fn kernel_threads() -> usize {
    if rayon::current_thread_index().is_some() && !OWNS_POOL.get() {
        1
    } else {
        num_threads()
    }
}

thread_local! {
    /// Set on the pool thread running `on_pool`'s closure.
    static OWNS_POOL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` on a thread of the pool, for an op with many short parallel loops (an RNN: several
/// per time step). Started there, each loop only queues work for the other threads; started
/// from the caller's thread, each loop would wake the pool and put the caller to sleep until it
/// ends (two context switches a loop). Kernels called in `f` still split across the pool.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if num_threads() <= 1 || rayon::current_thread_index().is_some() {
        return f();
    }
    // Restores the flag as it was: this job may run on a pool thread that is waiting inside
    // another thread's `on_pool` job (work stealing), which keeps owning the pool after it.
    struct Owner(bool);
    impl Drop for Owner {
        fn drop(&mut self) {
            OWNS_POOL.set(self.0);
        }
    }
    rayon::join(
        || {
            let _owner = Owner(OWNS_POOL.replace(true));
            f()
        },
        || (),
    )
    .0
}

/// Whether this process was forked after the thread pools started (a DataLoader worker): their
/// threads do not exist here, so work must stay on the calling thread.
pub fn forked() -> bool {
    std::process::id() != pool().1
}

/// The pool size and the id of the process that sized it.
fn pool() -> (usize, u32) {
    static N: OnceLock<(usize, u32)> = OnceLock::new();
    *N.get_or_init(|| {
        let from_env = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&n| n > 0)
        };
        let n = from_env("MXNET_CPU_WORKER_NTHREADS")
            .or_else(|| from_env("OMP_NUM_THREADS"))
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
        // The global pool may already exist (another library); then we use it as it is.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
        (n, std::process::id())
    })
}

/// Keeps freed memory in the process for reuse. glibc hands blocks above its mmap threshold
/// back to the OS on free and trims the heap top, so every op's fresh output buffer faulted its
/// pages in again (a quarter of a LeNet training step, in page faults and TLB shootdowns). With
/// blocks up to 32 MB (glibc's maximum) taken from the heap and the heap trimmed only above 1 GB
/// free, they are reused instead. Left alone when the user tunes malloc (`MALLOC_*`).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("MALLOC_")) {
            return;
        }
        // SAFETY: mallopt only sets allocator parameters; it is called before our threads start.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    }
}

/// Whether a loop over `n` elements should be split across threads.
#[inline]
pub fn parallel(n: usize) -> bool {
    n >= PAR_THRESHOLD && num_threads() > 1
}

/// The elements of a view, in row-major order, as a fresh vector.
pub fn gather<T: Copy + Send + Sync>(data: &[T], layout: &Layout) -> Vec<T> {
    let n = layout.numel();
    if layout.is_contiguous() {
        return data[layout.offset..layout.offset + n].to_vec();
    }
    layout.offsets().map(|o| data[o]).collect()
}

/// Run `f` on the view's elements as one contiguous slice, copying only when the view is strided.
pub fn with_contiguous<T: Copy + Send + Sync, R>(
    data: &[T],
    layout: &Layout,
    f: impl FnOnce(&[T]) -> R,
) -> R {
    if layout.is_contiguous() {
        f(&data[layout.offset..layout.offset + layout.numel()])
    } else {
        f(&gather(data, layout))
    }
}

/// Write `src` (read through `src_layout`, already broadcast to the destination shape) into the
/// destination view.
pub fn scatter<T: Copy + Send + Sync>(
    src: &[T],
    src_layout: &Layout,
    dst: &mut [T],
    dst_layout: &Layout,
) {
    if src_layout.is_contiguous() && dst_layout.is_contiguous() {
        let n = dst_layout.numel();
        dst[dst_layout.offset..dst_layout.offset + n]
            .copy_from_slice(&src[src_layout.offset..src_layout.offset + n]);
        return;
    }
    for (so, d) in src_layout.offsets().zip(dst_layout.offsets()) {
        dst[d] = src[so];
    }
}

/// A contiguous copy of a view converted to `dtype`.
pub fn cast(src: &CpuStorage, layout: &Layout, dtype: DType) -> CpuStorage {
    with_dtype!(src.dtype(), S, {
        let s = S::slice(src);
        with_dtype!(dtype, D, {
            let conv = |v: S| -> D { convert::<S, D>(v) };
            D::wrap(map_view(s, layout, conv))
        })
    })
}

/// Converts between element types as NumPy's `astype` does (floats truncate towards zero into ints).
#[inline]
pub fn convert<S: Element, D: Element>(v: S) -> D {
    if S::DTYPE.is_float()
        || D::DTYPE.is_float()
        || D::DTYPE == DType::Bool
        || S::DTYPE == DType::Bool
    {
        D::from_f64(v.to_f64())
    } else {
        D::from_i64(v.to_i64())
    }
}

/// `f` applied to each element of a view, into a new contiguous vector.
pub fn map_view<S: Copy + Send + Sync, D: Send, F: Fn(S) -> D + Sync + Send>(
    data: &[S],
    layout: &Layout,
    f: F,
) -> Vec<D> {
    let n = layout.numel();
    if layout.is_contiguous() {
        let s = &data[layout.offset..layout.offset + n];
        if parallel(n) {
            s.par_iter().with_min_len(4096).map(|&v| f(v)).collect()
        } else {
            s.iter().map(|&v| f(v)).collect()
        }
    } else {
        layout.offsets().map(|o| f(data[o])).collect()
    }
}

/// `f(a, b)` over two views broadcast to `shape`, into a new contiguous vector.
pub fn zip_view<A, B, D, F>(
    a: &[A],
    la: &Layout,
    b: &[B],
    lb: &Layout,
    shape: &[usize],
    f: F,
) -> Vec<D>
where
    A: Copy + Send + Sync,
    B: Copy + Send + Sync,
    D: Send + Copy + Default,
    F: Fn(A, B) -> D + Sync + Send,
{
    let n = numel(shape);
    let same = la.shape.as_slice() == shape && lb.shape.as_slice() == shape;
    if same && la.is_contiguous() && lb.is_contiguous() {
        let (a, b) = (&a[la.offset..la.offset + n], &b[lb.offset..lb.offset + n]);
        return if parallel(n) {
            a.par_iter()
                .zip(b.par_iter())
                .with_min_len(4096)
                .map(|(&x, &y)| f(x, y))
                .collect()
        } else {
            a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
        };
    }
    let la = la
        .broadcast_to("zip", shape)
        .expect("shapes were checked by the op");
    let lb = lb
        .broadcast_to("zip", shape)
        .expect("shapes were checked by the op");
    // Scalar against contiguous: the common `x + 1`-like broadcast.
    if la.is_contiguous() && lb.strides.iter().all(|&s| s == 0) {
        let (xs, y) = (&a[la.offset..la.offset + n], b[lb.offset]);
        return map_slice(xs, |x| f(x, y));
    }
    if lb.is_contiguous() && la.strides.iter().all(|&s| s == 0) {
        let (x, ys) = (a[la.offset], &b[lb.offset..lb.offset + n]);
        return map_slice(ys, |y| f(x, y));
    }
    // General case: rows of the last dimension, each walked with its own stride.
    let mut out = vec![D::default(); n];
    if n == 0 {
        return out;
    }
    let nd = shape.len();
    let inner = if nd == 0 { 1 } else { shape[nd - 1] };
    let (sa, sb) = if nd == 0 {
        (0, 0)
    } else {
        (la.strides[nd - 1], lb.strides[nd - 1])
    };
    let row = |r: usize, dst: &mut [D]| {
        // Offsets of the row's first element.
        let (mut oa, mut ob, mut rem) = (la.offset as isize, lb.offset as isize, r);
        for d in (0..nd.saturating_sub(1)).rev() {
            let i = (rem % shape[d]) as isize;
            rem /= shape[d];
            oa += i * la.strides[d];
            ob += i * lb.strides[d];
        }
        for (j, o) in dst.iter_mut().enumerate() {
            *o = f(
                a[(oa + j as isize * sa) as usize],
                b[(ob + j as isize * sb) as usize],
            );
        }
    };
    if parallel(n) && inner > 0 {
        out.par_chunks_mut(inner)
            .enumerate()
            .for_each(|(r, dst)| row(r, dst));
    } else if inner > 0 {
        out.chunks_mut(inner)
            .enumerate()
            .for_each(|(r, dst)| row(r, dst));
    }
    out
}

fn map_slice<S: Copy + Send + Sync, D: Send, F: Fn(S) -> D + Sync + Send>(s: &[S], f: F) -> Vec<D> {
    if parallel(s.len()) {
        s.par_iter().with_min_len(4096).map(|&v| f(v)).collect()
    } else {
        s.iter().map(|&v| f(v)).collect()
    }
}

/// Typed slices of a storage, for kernels that know their element type.
pub fn slice<T: CpuElement>(s: &CpuStorage) -> &[T] {
    T::slice(s)
}
