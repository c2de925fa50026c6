export * from './executor/index.js';
