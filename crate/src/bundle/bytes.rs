//! Where a bundle's bytes live while its tensors are built. Natively that is a `Vec<u8>`; in the
//! browser it is the worker's `ArrayBuffer`, outside wasm memory, from which each tensor is
//! copied in on its own, so that the module's memory never holds the bundle whole beside the
//! weights built from it.

use std::borrow::Cow;

pub trait BundleBytes {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len` bytes from `start` (the caller keeps within `len()`): borrowed where the bytes are
    /// in memory, copied where they are not.
    fn range(&self, start: usize, len: usize) -> Cow<'_, [u8]>;
}

impl BundleBytes for Vec<u8> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn range(&self, start: usize, len: usize) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self[start..start + len])
    }
}
