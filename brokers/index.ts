// Public API of brokers/: controllers, the CLI and tests import from here and nothing deeper.
export * from './contract.js';
export { parseRequest, parseStatusEvent, encodeMessage, requestIdFor, SUPPORTED_VERSIONS, type Parsed } from './protocol.js';
export {
  BrokersError,
  MalformedMessageError,
  UnsupportedVersionError,
  TransientDispatchError,
  PermanentDispatchError,
  UnauthenticatedError,
  ForbiddenError,
  ResourceNotFoundError,
  StatusConflictError,
  DeployFailedError,
  type BrokersErrorCode,
  type ProtocolError,
} from './errors.js';
export { BrokerMetrics } from './metrics.js';
export { createDispatcher, type DispatcherOptions, type DispatchTarget, type BrokerDispatcher } from './dispatcher.js';
export {
  createStatusHandler,
  isCleanedUp,
  syncDatabaseConnectionRefs,
  CONDITION,
  REASON_CLEANED_UP,
  RECENT_EVENT_IDS_KEPT,
  type Condition,
  type DatabaseConnectionRef,
  type StatusAuth,
  type StatusHandler,
  type StatusHandlerOptions,
  type StatusOutcome,
} from './status-handler.js';
export { startStatusApi, type StatusApiOptions, type RunningStatusApi } from './status-api.js';
export { startStatusConsumer, type StatusConsumerOptions } from './status-consumer.js';
export { runReferenceBroker, type ReferenceBrokerOptions, type RunningReferenceBroker } from './reference/broker.js';
