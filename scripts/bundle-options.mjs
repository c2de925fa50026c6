// esbuild settings for code we run outside tsx: the product bundle (build.mjs) and the benchmark's
// raft-kv members (bench-raft.ts), so that a benchmark measures code compiled as we ship it.
//
// Identifiers are not minified, so no `keepNames` is needed for class names (error names come
// from `new.target.name`). keepNames wraps every named closure in `__name()` each time it is
// created (0.33 µs each): about 7 % of a Raft member's CPU per write at c=1 (docs/raft-core.md).
export const codeOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  minifyIdentifiers: false,
  keepNames: false,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  // Optional native add-ons of ssh2 (a dockerode dependency); it falls back to JS without them.
  external: ['cpu-features', '*.node'],
};

/**
 * Bundling renames a class whose name another module uses too (`Foo` becomes `Foo2`): for an
 * error class that would change the name users see. Returns such renamed classes.
 */
export function renamedErrorClasses(code) {
  return [...code.matchAll(/class (\w+Error\d+) extends/g)].map((m) => m[1]);
}
