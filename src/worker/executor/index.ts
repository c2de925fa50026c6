export * from './docker/index.js';
export type * from './executor.js';
