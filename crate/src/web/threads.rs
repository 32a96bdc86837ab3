//! The CPU path's thread pool. In the module built with `web-threads`, the page's worker calls
//! `initThreadPool(n)` (wasm-bindgen-rayon: n Web Workers sharing this module's memory) before
//! loading a bundle, and the int8 products split their columns over it. Every other module runs
//! on the calling worker alone.

use wasm_bindgen::prelude::*;

#[cfg(feature = "web-threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// The threads a product is split over: the pool's size, or 1 without a pool.
#[wasm_bindgen(js_name = computeThreads)]
pub fn compute_threads() -> usize {
    #[cfg(feature = "web-threads")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "web-threads"))]
    1
}
