// The resolve hook of register.mjs.
const STUB_HANDLER = new URL('./stub-handler.mjs', import.meta.url).href;
const LIB = new URL('../lib/', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === './handler' || specifier === './handler.js') {
    return { url: STUB_HANDLER, format: 'module', shortCircuit: true };
  }
  const found = await nextResolve(
    specifier.startsWith('.') && !/\.[cm]?js$/.test(specifier) ? `${specifier}.js` : specifier,
    context
  );
  // lib/ is compiled to ES modules (the package has no "type"): say so, rather than have Node guess
  return found.url.startsWith(LIB) ? { ...found, format: 'module' } : found;
}
