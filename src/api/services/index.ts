export * from './ca.js';
export * from './control.js';
export * from './daemon.js';
export * from './dispatcher.js';
export * from './logs.js';
