//! Direct float32 convolution for x86-64 CPUs with AVX2 and FMA, NC* layout, stride 1 along the
//! last spatial axis (any kernel, padding, dilation, groups, and stride on the other axes).
//!
//! Why: the im2col path writes a column matrix `taps` times the input's size (2.4 MB per item
//! for a 64-channel 3x3 convolution of 32x32) and the GEMM then reads it back, through L3; that
//! round trip made a ResNet block's 3x3 convolutions 2x slower than PyTorch. Here the input item
//! is copied once into a zero-padded buffer (L2-sized) and the GEMM's "B" operand is read from it
//! in place: for filters `f..f+MR` and `W` consecutive outputs of one row, the reduction step
//! over (channel, tap) `q` loads `W` contiguous padded inputs at `base + off[q]` and broadcasts
//! the MR packed weights. The register tile (MR x W) lives across the whole reduction, so the
//! output is written once.
use super::avx2::{available, max_lanes, pack_rows, tile, tile_height, Ptr};
use rayon::prelude::*;
use std::cell::RefCell;

/// One convolution (per batch item), spatial dims padded to three with leading size-1 dims.
#[derive(Clone, Copy, Debug)]
pub struct Direct {
    /// Input channels and filters (all groups), and the group count.
    pub c: usize,
    pub f: usize,
    pub g: usize,
    pub img: [usize; 3],
    pub out: [usize; 3],
    pub k: [usize; 3],
    pub s: [usize; 3],
    pub d: [usize; 3],
    pub p: [usize; 3],
}

/// Weights packed for the kernel: per group and panel of MR filters, `[q][MR]` zero-padded.
pub struct Packed {
    data: Vec<f32>,
    mr: usize,
}

thread_local! {
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl Direct {
    /// Whether the direct kernels compute this convolution on this CPU.
    pub fn usable(&self) -> bool {
        self.s[2] == 1 && self.out.iter().all(|&o| o > 0) && self.c > 0 && available()
    }
    /// Floats per vector: 16 with AVX-512 unless a row has at most 8 outputs, else 8.
    fn lanes(&self) -> usize {
        if self.out[2] > 8 {
            max_lanes()
        } else {
            8
        }
    }
    /// Vectors of outputs per tile: 2 unless a row fits in one.
    fn nv(&self) -> usize {
        if self.out[2] <= self.lanes() {
            1
        } else {
            2
        }
    }
    /// Filters per tile: the height that computes the fewest rows for a group's filters (the
    /// tallest among equals).
    fn mr(&self) -> usize {
        tile_height(self.lanes(), self.nv(), self.f / self.g)
    }
    fn width(&self) -> usize {
        self.lanes() * self.nv()
    }
    fn tiles(&self) -> usize {
        self.out[2].div_ceil(self.width())
    }
    /// The padded input item: (C, dp, hp, wp), rows long enough for the last tile's loads.
    fn padded(&self) -> [usize; 3] {
        [
            self.img[0] + 2 * self.p[0],
            self.img[1] + 2 * self.p[1],
            self.tiles() * self.width() + (self.k[2] - 1) * self.d[2],
        ]
    }
    fn taps(&self) -> usize {
        self.k.iter().product()
    }
    /// The reduction length of one group: C/g * taps.
    fn kc(&self) -> usize {
        self.c / self.g * self.taps()
    }

    /// Packs `w(filter, channel within its group, tap)` (tap row-major over the kernel).
    pub fn pack(&self, w: impl Fn(usize, usize, usize) -> f32) -> Packed {
        let (mr, fg, kk) = (self.mr(), self.f / self.g, self.taps());
        let (panels, kc) = (fg.div_ceil(mr), self.kc());
        let mut data = vec![0f32; self.g * panels * kc * mr];
        for (gp, dst) in data.chunks_mut(kc * mr).enumerate() {
            let f0 = (gp / panels) * fg + (gp % panels) * mr;
            let rows = mr.min(fg - (gp % panels) * mr);
            pack_rows(dst, kc, mr, rows, |i, q| w(f0 + i, q / kk, q % kk));
        }
        Packed { data, mr }
    }

    /// `y (N, F, out) = conv(x (N, C, img), w)`, overwriting y.
    ///
    /// Requires `usable()`; the slices hold whole items.
    pub fn run(&self, x: &[f32], w: &Packed, y: &mut [f32], threads: usize) {
        let (xl, yl) = (
            self.c * self.img.iter().product::<usize>(),
            self.f * self.positions(),
        );
        let n = y.len() / yl;
        assert!(self.usable() && w.mr == self.mr() && x.len() == n * xl && y.len() == n * yl);
        let out = Ptr(y.as_mut_ptr());
        if threads > 1 && n >= threads {
            x.par_chunks(xl)
                .enumerate()
                .for_each(|(b, xi)| self.item(xi, w, out, b * yl, false));
        } else {
            for (b, xi) in x.chunks(xl).enumerate() {
                self.item(xi, w, out, b * yl, threads > 1);
            }
        }
    }

    fn positions(&self) -> usize {
        self.out.iter().product()
    }

    /// One item: pads it into this thread's buffer, then computes its output rows, split across
    /// the pool when `par`.
    fn item(&self, x: &[f32], w: &Packed, y: Ptr, y0: usize, par: bool) {
        // Taken out while in use: waiting for the rows below, this thread may run another
        // convolution's job (a graph run from another thread), which then pads into a buffer
        // of its own (borrowed for the whole call, the thread-local panicked there).
        let mut buf = PADDED.take();
        let [dp, hp, wp] = self.padded();
        buf.resize(self.c * dp * hp * wp, 0.0);
        let [id, ih, iw] = self.img;
        let [pd, ph, pw] = self.p;
        // Every element written once: the input, or zero around it (the buffer holds the
        // last item's values).
        for (i, row) in buf.chunks_mut(wp).enumerate() {
            let (r, z, c) = (i % hp, i / hp % dp, i / (hp * dp));
            let (r, z) = (r.wrapping_sub(ph), z.wrapping_sub(pd));
            if r >= ih || z >= id {
                row.fill(0.0);
                continue;
            }
            let src = ((c * id + z) * ih + r) * iw;
            row[..pw].fill(0.0);
            row[pw..pw + iw].copy_from_slice(&x[src..src + iw]);
            row[pw + iw..].fill(0.0);
        }
        let off = self.offsets();
        let (xp, rows): (&[f32], _) = (&buf, 0..self.out[0] * self.out[1]);
        if par {
            rows.into_par_iter()
                .for_each(|r| self.row(xp, &off, w, y, y0, r));
        } else {
            rows.for_each(|r| self.row(xp, &off, w, y, y0, r));
        }
        PADDED.set(buf);
    }

    /// The padded-buffer offset of every reduction step (channel, tap) of one group.
    fn offsets(&self) -> Vec<usize> {
        let [dp, hp, wp] = self.padded();
        let [kd, kh, kw] = self.k;
        let plane = dp * hp * wp;
        let mut off = Vec::with_capacity(self.kc());
        for c in 0..self.c / self.g {
            for z in 0..kd {
                for r in 0..kh {
                    for q in 0..kw {
                        off.push(
                            c * plane + (z * self.d[0] * hp + r * self.d[1]) * wp + q * self.d[2],
                        );
                    }
                }
            }
        }
        off
    }

    /// Output row `r` (over the flattened (depth, height) output) of every filter.
    fn row(&self, xp: &[f32], off: &[usize], w: &Packed, y: Ptr, y0: usize, r: usize) {
        let [dp, hp, wp] = self.padded();
        let (oz, oy) = (r / self.out[1], r % self.out[1]);
        let base = (oz * self.s[0] * hp + oy * self.s[1]) * wp;
        let (mr, fg, kc, ow) = (self.mr(), self.f / self.g, self.kc(), self.out[2]);
        let panels = fg.div_ceil(mr);
        let (pos, wd) = (self.positions(), self.width());
        let plane = dp * hp * wp;
        for gi in 0..self.g {
            let xg = gi * (self.c / self.g) * plane + base;
            for t in 0..self.tiles() {
                let nr = wd.min(ow - t * wd);
                for pn in 0..panels {
                    let rows = mr.min(fg - pn * mr);
                    let wpan = &w.data[(gi * panels + pn) * kc * mr..][..kc * mr];
                    let o = y0 + (gi * fg + pn * mr) * pos + r * ow + t * wd;
                    // SAFETY: every load of the tile is inside the padded buffer (`padded`
                    // makes rows long enough for the last tile, and offsets stay within the
                    // group's channels), the weights are kc * mr, and the stores go to rows
                    // `rows` x columns `nr` of this item's output at `o`.
                    unsafe {
                        tile(
                            self.lanes(),
                            self.nv(),
                            mr,
                            kc,
                            wpan.as_ptr(),
                            xp.as_ptr().add(xg + t * wd),
                            off.as_ptr(),
                            y.at(o),
                            pos,
                            rows,
                            nr,
                        );
                    }
                    debug_assert!(xg + t * wd + off[kc - 1] + wd <= xp.len());
                }
            }
        }
    }
}
