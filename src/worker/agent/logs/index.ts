export { LogPublisher, type LogPublisherDeps } from './log-publisher.js';
