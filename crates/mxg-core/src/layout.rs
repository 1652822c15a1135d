//! Shapes, strides and views. A layout says where each element of a view sits in its storage.
use crate::{Error, Result};

pub type Shape = Vec<usize>;

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

pub fn contiguous_strides(shape: &[usize]) -> Vec<isize> {
    let mut strides = vec![0isize; shape.len()];
    let mut acc = 1isize;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc *= shape[i].max(1) as isize;
    }
    strides
}

/// Normalise a possibly negative axis against `ndim`.
pub fn norm_axis(op: &str, axis: isize, ndim: usize) -> Result<usize> {
    let a = if axis < 0 { axis + ndim as isize } else { axis };
    if a < 0 || a >= ndim as isize {
        return Err(Error::value(
            op,
            format!("axis {axis} is out of bounds for an array of dimension {ndim}"),
        ));
    }
    Ok(a as usize)
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(op: &str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape(
                op,
                format!("operands could not be broadcast together with shapes {a:?} {b:?}"),
            ));
        };
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub shape: Shape,
    /// In elements; may be 0 (broadcast) or negative (flipped).
    pub strides: Vec<isize>,
    /// In elements, from the start of the storage.
    pub offset: usize,
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout {
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// Row-major contiguous (dims of size 1 may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut acc = 1isize;
        for i in (0..self.shape.len()).rev() {
            if self.shape[i] == 0 {
                return true;
            }
            if self.shape[i] != 1 && self.strides[i] != acc {
                return false;
            }
            acc *= self.shape[i] as isize;
        }
        true
    }

    /// Contiguous from the start of its storage: the view is the whole buffer, in order.
    pub fn is_compact(&self, storage_len: usize) -> bool {
        self.offset == 0 && self.is_contiguous() && self.numel() == storage_len
    }

    pub fn broadcast_to(&self, op: &str, shape: &[usize]) -> Result<Layout> {
        if shape.len() < self.ndim() {
            return Err(Error::shape(
                op,
                format!("cannot broadcast shape {:?} to {:?}", self.shape, shape),
            ));
        }
        let lead = shape.len() - self.ndim();
        let mut strides = vec![0isize; shape.len()];
        for i in 0..self.ndim() {
            let (d, t) = (self.shape[i], shape[lead + i]);
            if d == t {
                strides[lead + i] = self.strides[i];
            } else if d == 1 {
                strides[lead + i] = 0;
            } else {
                return Err(Error::shape(
                    op,
                    format!("cannot broadcast shape {:?} to {:?}", self.shape, shape),
                ));
            }
        }
        Ok(Layout {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    pub fn permute(&self, op: &str, axes: &[usize]) -> Result<Layout> {
        let n = self.ndim();
        let mut seen = vec![false; n];
        if axes.len() != n
            || axes
                .iter()
                .any(|&a| a >= n || std::mem::replace(&mut seen[a], true))
        {
            return Err(Error::value(
                op,
                format!("axes {axes:?} are not a permutation of {n} dimensions"),
            ));
        }
        Ok(Layout {
            shape: axes.iter().map(|&a| self.shape[a]).collect(),
            strides: axes.iter().map(|&a| self.strides[a]).collect(),
            offset: self.offset,
        })
    }

    /// Basic slicing along one axis: `start`, `step` (non-zero) and the resulting length.
    pub fn slice_axis(&self, axis: usize, start: usize, step: isize, len: usize) -> Layout {
        let mut l = self.clone();
        if len > 0 {
            l.offset = (l.offset as isize + start as isize * l.strides[axis]) as usize;
        }
        l.shape[axis] = len;
        l.strides[axis] *= step;
        l
    }

    /// Remove one axis by fixing its index.
    pub fn index_axis(&self, axis: usize, index: usize) -> Layout {
        let mut l = self.clone();
        l.offset = (l.offset as isize + index as isize * l.strides[axis]) as usize;
        l.shape.remove(axis);
        l.strides.remove(axis);
        l
    }

    pub fn insert_axis(&self, axis: usize) -> Layout {
        let mut l = self.clone();
        l.shape.insert(axis, 1);
        l.strides.insert(axis, 0);
        l
    }

    /// A view with a new shape over the same elements, when the strides allow it without a copy.
    pub fn reshape(&self, shape: &[usize]) -> Option<Layout> {
        if self.is_contiguous() {
            return Some(Layout {
                shape: shape.to_vec(),
                strides: contiguous_strides(shape),
                offset: self.offset,
            });
        }
        // Drop size-1 dims and try to split/merge the remaining ones (NumPy's attempt_nocopy_reshape).
        let old: Vec<(usize, isize)> = self
            .shape
            .iter()
            .zip(&self.strides)
            .filter(|(d, _)| **d != 1)
            .map(|(d, s)| (*d, *s))
            .collect();
        let mut strides = vec![0isize; shape.len()];
        let (mut oi, mut ni) = (0, 0);
        while oi < old.len() && ni < shape.len() {
            if shape[ni] == 1 {
                strides[ni] = 0;
                ni += 1;
                continue;
            }
            let (oj0, nj0) = (oi, ni);
            let (mut np, mut op) = (shape[ni], old[oi].0);
            while np != op {
                if np < op {
                    ni += 1;
                    if ni >= shape.len() {
                        return None;
                    }
                    np *= shape[ni];
                } else {
                    oi += 1;
                    if oi >= old.len() {
                        return None;
                    }
                    op *= old[oi].0;
                }
            }
            for k in oj0..oi {
                if old[k].1 != old[k + 1].1 * old[k + 1].0 as isize {
                    return None;
                }
            }
            strides[ni] = old[oi].1;
            for k in (nj0..ni).rev() {
                strides[k] = strides[k + 1] * shape[k + 1] as isize;
            }
            oi += 1;
            ni += 1;
        }
        while ni < shape.len() {
            if shape[ni] != 1 {
                return None;
            }
            ni += 1;
        }
        if oi != old.len() {
            return None;
        }
        Some(Layout {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// Storage offsets of every element, in row-major order of the view.
    pub fn offsets(&self) -> StridedIter<'_> {
        StridedIter::new(self)
    }
}

/// Walks a layout's elements in row-major order, yielding storage offsets.
pub struct StridedIter<'a> {
    layout: &'a Layout,
    index: Vec<usize>,
    next: isize,
    remaining: usize,
}

impl<'a> StridedIter<'a> {
    fn new(layout: &'a Layout) -> Self {
        StridedIter {
            layout,
            index: vec![0; layout.ndim()],
            next: layout.offset as isize,
            remaining: layout.numel(),
        }
    }
}

impl Iterator for StridedIter<'_> {
    type Item = usize;
    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let cur = self.next;
        let l = self.layout;
        for d in (0..l.ndim()).rev() {
            self.index[d] += 1;
            self.next += l.strides[d];
            if self.index[d] < l.shape[d] {
                break;
            }
            self.next -= l.strides[d] * l.shape[d] as isize;
            self.index[d] = 0;
        }
        Some(cur as usize)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn transpose_and_reshape() {
        let l = Layout::contiguous(&[2, 3]);
        let t = l.permute("t", &[1, 0]).unwrap();
        assert_eq!(t.offsets().collect::<Vec<_>>(), vec![0, 3, 1, 4, 2, 5]);
        assert!(t.reshape(&[6]).is_none());
        assert_eq!(t.reshape(&[3, 2, 1]).unwrap().strides, vec![1, 3, 0]);
        let s = Layout::contiguous(&[4, 6]).slice_axis(1, 1, 2, 3);
        assert_eq!(
            s.offsets().collect::<Vec<_>>(),
            vec![1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23]
        );
        assert_eq!(broadcast_shapes("b", &[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert!(broadcast_shapes("b", &[3], &[4]).is_err());
        // merging a sliced row view: [4,6] -> rows 0..2 -> reshape [12] works
        let r = Layout::contiguous(&[4, 6]).slice_axis(0, 1, 1, 2);
        assert_eq!(r.reshape(&[12]).unwrap().offset, 6);
    }
}
