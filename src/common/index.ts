export * from './async.js';
export * from './clock.js';
export * from './duration.js';
export * from './errors.js';
export * from './event.js';
export * from './lifecycle.js';
export * from './log.js';
export * from './random.js';
