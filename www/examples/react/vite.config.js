// The dev server must not pre-bundle memeclip: that would separate its module from its .wasm.
export default { optimizeDeps: { exclude: ['memeclip'] } };
