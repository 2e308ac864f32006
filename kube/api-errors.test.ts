import { ApiException } from '@kubernetes/client-node';
import { apiErrorDetail, apiErrorKind, apiStatusOf } from './api-errors.js';

const api = (code: number, body: unknown) => new ApiException(code, 'HTTP error', body, {});

describe('apiserver errors', () => {
  it('are classified by status, with the Status message as detail', () => {
    const cases = [
      api(409, JSON.stringify({ kind: 'Status', message: 'the object has been modified' })),
      api(422, JSON.stringify({ kind: 'Status', message: 'spec.owner: Required value' })),
      api(400, 'not json'),
      api(404, { kind: 'Status', message: 'not found' }),
      api(403, ''),
      api(401, ''),
      api(500, ''),
      { statusCode: 410 },
      new Error('connect ECONNREFUSED 127.0.0.1:6443'),
    ];
    expect(cases.map((e) => ({ status: apiStatusOf(e), kind: apiErrorKind(e), detail: apiErrorDetail(e) }))).toEqual([
      { status: 409, kind: 'conflict', detail: 'the object has been modified' },
      { status: 422, kind: 'invalid', detail: 'spec.owner: Required value' },
      { status: 400, kind: 'invalid', detail: 'not json' },
      { status: 404, kind: 'not-found', detail: 'not found' },
      { status: 403, kind: 'denied', detail: '' },
      { status: 401, kind: 'denied', detail: '' },
      { status: 500, kind: 'transient', detail: '' },
      { status: 410, kind: 'transient', detail: '[object Object]' },
      { status: undefined, kind: 'transient', detail: 'connect ECONNREFUSED 127.0.0.1:6443' },
    ]);
  });
});
