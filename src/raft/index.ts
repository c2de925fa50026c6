export * from './codec/index.js';
export * from './core/index.js';
export * from './driver/index.js';
export * from './storage/index.js';
export * from './transport/index.js';
export * from './types.js';
