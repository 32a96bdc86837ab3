//! A bundle read where the worker holds it, in a JS `ArrayBuffer`: each tensor is copied into
//! wasm memory when it is built, so the module never holds the whole bundle.

use std::borrow::Cow;

use crate::bundle::bytes::BundleBytes;

pub struct JsBundleBytes(pub js_sys::Uint8Array);

impl BundleBytes for JsBundleBytes {
    fn len(&self) -> usize {
        self.0.length() as usize
    }

    fn range(&self, start: usize, len: usize) -> Cow<'_, [u8]> {
        let end = start + len;
        Cow::Owned(self.0.subarray(start as u32, end as u32).to_vec())
    }
}
