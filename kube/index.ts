// Public API of kube/: the shared Kubernetes mechanics, once each (issue 13). Every other
// folder imports these from here and nothing deeper.
export { systemClock, backgroundClock, ManualClock, type Clock, type Timer } from './clock.js';
export { backoffDelay, seededFraction, DEFAULT_BACKOFF, BACKOFF_BASE_MS, BACKOFF_MAX_MS, BACKOFF_FACTOR, BACKOFF_JITTER, type BackoffPolicy } from './backoff.js';
export { setCondition, findCondition, conditionTime, sameJson, type Condition, type ConditionInput } from './conditions.js';
export {
  apiStatusOf,
  apiErrorKind,
  apiErrorDetail,
  isNotFound,
  isConflict,
  HTTP_BAD_REQUEST,
  HTTP_UNAUTHORIZED,
  HTTP_FORBIDDEN,
  HTTP_NOT_FOUND,
  HTTP_CONFLICT,
  HTTP_GONE,
  HTTP_UNPROCESSABLE,
  type ApiErrorKind,
} from './api-errors.js';
export { keepConnectionsAlive, loadKubeConfig, IDLE_SOCKET_TIMEOUT_MS, type KubeConfigSource } from './connections.js';
export { Watched, INFORMER_BACKOFF, type Handler, type WatchedOptions } from './informers.js';
export { ApiStatusError, getJson, GET_TIMEOUT_MS } from './api-get.js';
export { KindCaches, type KindCachesOptions, type KindKey, type RawObject } from './kind-caches.js';
