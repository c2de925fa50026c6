export * from './agent/index.js';
export * from './executor/index.js';
