import { describe, expect, it } from 'vitest';
import { ApiError, codeForStatus, describeError, errorFromResponse, toApiError } from './errors';

describe('error mapping', () => {
  it('uses the code and message of an ApiErrorBody', () => {
    const e = errorFromResponse(409, { code: 'conflict', message: 'already there' });
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('conflict');
    expect(e.message).toBe('already there');
    expect(e.status).toBe(409);
  });

  it('falls back to the HTTP status when the body is not an ApiErrorBody', () => {
    expect(errorFromResponse(401, undefined).code).toBe('unauthorized');
    expect(errorFromResponse(404, { error: 'x' }).code).toBe('not_found');
    expect(errorFromResponse(503, 'down').code).toBe('unavailable');
    expect(errorFromResponse(500, null).code).toBe('internal');
    expect(errorFromResponse(418, null).code).toBe('bad_request');
    // an unknown code is not trusted
    expect(errorFromResponse(400, { code: 'weird', message: 'm' }).code).toBe('bad_request');
  });

  it('maps statuses to codes', () => {
    expect(codeForStatus(400)).toBe('bad_request');
    expect(codeForStatus(403)).toBe('forbidden');
    expect(codeForStatus(409)).toBe('conflict');
    expect(codeForStatus(502)).toBe('unavailable');
  });

  it('maps whatever a Tauri command rejects with', () => {
    expect(toApiError({ code: 'not_found', message: 'no such peer' })).toMatchObject({
      code: 'not_found',
      message: 'no such peer',
    });
    expect(toApiError('{"code":"forbidden","message":"nope"}')).toMatchObject({
      code: 'forbidden',
      message: 'nope',
    });
    expect(toApiError('plain failure')).toMatchObject({ code: 'internal', message: 'plain failure' });
    expect(toApiError(new Error('boom'))).toMatchObject({ code: 'internal', message: 'boom' });
    expect(toApiError(42)).toMatchObject({ code: 'internal' });
    const same = new ApiError('conflict', 'c');
    expect(toApiError(same)).toBe(same);
  });

  it('describes errors for people', () => {
    expect(describeError(new ApiError('bad_request', 'invalid multiaddr'))).toBe('invalid multiaddr');
    expect(describeError(new ApiError('bad_request', ''))).toBe('bad request');
  });
});
