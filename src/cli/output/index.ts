export { type ClientAddressInfo, clientAddressInfo } from './client-address.js';
export { bytesSize, goDuration, goTime, humanDuration, stateSince } from './human.js';
export { formatNodeList, managerStatus, type NodeListOptions } from './node-list.js';
export { formatNodePretty } from './node-pretty.js';
export {
  type ConvergenceFrame,
  type ConvergenceOptions,
  type ProgressTask,
  pickTasksBySlot,
  progressBar,
  renderConvergence,
  renderVerify,
  toProgressTask,
  type VerifyStep,
} from './progress.js';
export {
  countServiceTasks,
  familiarImage,
  formatServiceList,
  type ListOptions,
  modeName,
  portsColumn,
  replicasColumn,
  type ServiceCounts,
  type ServiceListRow,
} from './service-list.js';
export { formatServicePretty, type ServicePrettyContext } from './service-pretty.js';
export { type CliOutput, processOutput } from './streams.js';
export {
  capitalizeFirst,
  ellipsis,
  type ListFormat,
  naturalCompare,
  parseListFormat,
  renderInspectJson,
  renderJsonLines,
  renderTable,
  truncateId,
} from './table.js';
export { formatTaskList, type TaskListContext, taskName } from './task-list.js';
export {
  renderUpdateFrame,
  startedUpdate,
  tasksOfCurrentSpec,
  type UpdateCommand,
  type UpdateFrame,
  type UpdateFrameOptions,
  type UpdateVerdict,
  updateVerdict,
} from './update-progress.js';
