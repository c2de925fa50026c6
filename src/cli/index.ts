export type { BuildInfo } from './build-info.js';
export { buildInfo } from './build-info.js';
export type { CliOutput } from './output/streams.js';
export { processOutput } from './output/streams.js';
export { buildProgram, runCli } from './program.js';
