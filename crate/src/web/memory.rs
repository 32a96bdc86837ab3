//! Running out of wasm memory, said plainly. When the browser refuses to grow the module's
//! memory, Rust aborts with a bare `unreachable` trap that names nothing. The allocator below is
//! the system one, except that it remembers the size of a request it could not meet, so that the
//! worker can turn the trap into "out of memory: N MB more were needed" (the module's statics
//! stay readable after a trap).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use wasm_bindgen::prelude::*;

static FAILED_BYTES: AtomicUsize = AtomicUsize::new(0);

struct Remembering;

// SAFETY: every call is forwarded unchanged to `System`; a failure is only recorded.
unsafe impl GlobalAlloc for Remembering {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if ptr.is_null() {
            FAILED_BYTES.store(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if ptr.is_null() {
            FAILED_BYTES.store(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`.
        let grown = unsafe { System.realloc(ptr, layout, new_size) };
        if grown.is_null() {
            FAILED_BYTES.store(new_size, Ordering::Relaxed);
        }
        grown
    }
}

#[global_allocator]
static ALLOCATOR: Remembering = Remembering;

/// The size in bytes of the last allocation the browser's memory could not hold (0: none yet).
#[wasm_bindgen(js_name = failedAllocationBytes)]
pub fn failed_allocation_bytes() -> usize {
    FAILED_BYTES.load(Ordering::Relaxed)
}
