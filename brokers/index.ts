// Public API of brokers/: controllers, the CLI and tests import from here and nothing deeper.
export * from './contract.js';
export { parseRequest, parseStatusEvent, encodeMessage, requestIdFor, parseRequestId, SUPPORTED_VERSIONS, MAX_MESSAGE_BYTES, type Parsed } from './protocol.js';
export {
  BrokersError,
  MalformedMessageError,
  UnsupportedVersionError,
  TransientDispatchError,
  PermanentDispatchError,
  UnauthenticatedError,
  RequestUnauthenticatedError,
  ForbiddenError,
  ResourceNotFoundError,
  StatusConflictError,
  DeployFailedError,
  type BrokersErrorCode,
  type ProtocolError,
  type RequestAuthFailure,
} from './errors.js';
export { BrokerMetrics } from './metrics.js';
export { createDispatcher, KAFKA_DISPATCH_DEADLINE_MS, KAFKA_RETRY_AFTER_FAILURE_MS, type DispatcherOptions, type DispatchTarget, type BrokerDispatcher } from './dispatcher.js';
export { ensureTopics, createKafka, PROTOCOL_TOPICS, DLQ_SUFFIX, DLQ_REASON_HEADER } from './kafka.js';
export { setupKafkaAccess, kidpAcls, CONTROLLERS_PRINCIPAL, DECISION_STREAM_PRINCIPAL, brokerPrincipal, brokerGroup } from './kafka-access.js';
export {
  createStatusHandler,
  recordEvent,
  reportOf,
  staleReason,
  isCleanedUp,
  CONDITION,
  PHASE_OF,
  REASON_CLEANED_UP,
  RECENT_EVENT_IDS_KEPT,
  BROKER_REPORTS_KEPT,
  STATUS_API_SETTLE_MS,
  type BrokerReport,
  type Condition,
  type DatabaseConnectionRef,
  type DeployableObject,
  type DeployableStatus,
  type RecordDecision,
  type ReportSubject,
  type StaleCheckObject,
  type StatusAuth,
  type StatusHandler,
  type StatusHandlerOptions,
  type LocalFold,
  type StatusOutcome,
} from './status-handler.js';
export { startStatusApi, createStatusApp, type StatusApiOptions, type RunningStatusApi } from './status-api.js';
export { signStatusToken, generateBrokerKeyPair, STATUS_AUDIENCE, STATUS_TOKEN_TTL_SECONDS } from './status-jwt.js';
export {
  signRequestToken,
  verifyRequestToken,
  bodyHash,
  es256Key,
  REQUEST_TOKEN_ISSUER,
  REQUEST_TOKEN_TTL_SECONDS,
  BODY_HASH_CLAIM,
  type VerifiedRequestToken,
} from './request-jwt.js';
export { runStatusService, type StatusServiceOptions, type RunningStatusService } from './status-service.js';
export { startStatusConsumer, DEFAULT_STATUS_GROUP, type StatusConsumerOptions } from './status-consumer.js';
export { PROVIDERS, type ProviderName, type Provisioner, type ProvisionContext, type ProvisionOutcome, type TargetAws, type TargetRecord, type TargetServer } from './provisioner.js';
export { postgresqlProvisioner, type PostgresqlProvisionerOptions, type ServerCredentials } from './postgresql/provisioner.js';
export { BackupScheduler, dumpDatabase, restoreDump, type BackupJob } from './postgresql/backup.js';
export { redisProvisioner, OWNERS_KEY as REDIS_OWNERS_KEY } from './redis/provisioner.js';
export { CACHE_COMMAND_RULES } from './redis/plan.js';
export { awsProvisioner, type AwsProvisionerOptions } from './aws/provisioner.js';
export { TAG_UID as AWS_TAG_UID, TAG_REQUEST as AWS_TAG_REQUEST } from './aws/plan.js';
export { DEFAULT_PRICES, loadPriceTable, parsePriceTable, usageFor, type Price, type PriceTable, type UsageMeasure } from './usage.js';
export { runReferenceBroker, USAGE_REPORT_INTERVAL_MS, eventIdFor, WEBHOOK_PATH, type ReferenceBrokerOptions, type RunningReferenceBroker } from './reference/broker.js';
