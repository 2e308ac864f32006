import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import type { DeploymentRequest, Dispatcher } from '../brokers/index.js';
import type { DispatchAction } from './actions.js';
import { Applier, RESEND_SUPPRESSION_MS } from './apply.js';

const log = pino({ level: 'silent' });

function setup() {
  let now = Date.parse('2026-06-01T00:00:00Z');
  const sends: string[] = [];
  const dispatcher: Dispatcher = {
    dispatch: async (request) => {
      sends.push(request.requestId);
      return 'kafka';
    },
    close: async () => undefined,
  };
  // No apiserver is reached: the actions below write nothing (the address is never dialled).
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  const applier = new Applier({ kubeConfig, dispatcher, logger: log, instance: 'test', now: () => new Date(now) });
  const recorded: string[] = [];
  const dispatch = (requestId: string): DispatchAction => ({
    type: 'dispatch',
    request: { requestId } as DeploymentRequest,
    target: { transport: 'kafka' },
    sent: (transport) => {
      recorded.push(`${requestId} via ${transport}`);
      return [];
    },
    failed: () => [],
  });
  return { applier, sends, recorded, dispatch, advance: (ms: number) => (now += ms) };
}

test('a request id this process sent is recorded again, not sent again (a retried reconcile)', async () => {
  const { applier, sends, recorded, dispatch } = setup();
  await applier.apply([dispatch('uid-1')], log);
  await applier.apply([dispatch('uid-1')], log);
  expect(sends).toEqual(['uid-1']);
  // The follow-up actions still run, so the status records the dispatch.
  expect(recorded).toEqual(['uid-1 via kafka', 'uid-1 via kafka']);
  await applier.apply([dispatch('uid-2')], log);
  expect(sends).toEqual(['uid-1', 'uid-2']);
});

test('after the suppression window the same request id is sent again', async () => {
  const { applier, sends, dispatch, advance } = setup();
  await applier.apply([dispatch('uid-1')], log);
  advance(RESEND_SUPPRESSION_MS + 1);
  await applier.apply([dispatch('uid-1')], log);
  expect(sends).toEqual(['uid-1', 'uid-1']);
});
