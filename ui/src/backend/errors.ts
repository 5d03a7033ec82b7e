import type { ApiErrorBody, ErrorCode } from '../api/types';

const CODES: readonly ErrorCode[] = [
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'unavailable',
  'internal',
];

/** An error reported by the node (or the failure to reach it). */
export class ApiError extends Error {
  readonly code: ErrorCode;
  /** HTTP status, when the error came from an HTTP response. */
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, status?: number) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }
}

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && (CODES as readonly string[]).includes(v);
}

/** True when `v` has the shape of an `ApiErrorBody`. */
export function isApiErrorBody(v: unknown): v is ApiErrorBody {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return isErrorCode(o.code) && typeof o.message === 'string';
}

/** The error code that best describes an HTTP status without a usable body. */
export function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
    case 422:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 502:
    case 503:
    case 504:
      return 'unavailable';
    default:
      return status >= 400 && status < 500 ? 'bad_request' : 'internal';
  }
}

/** Builds the error for a non-2xx HTTP response from its status and (maybe) parsed body. */
export function errorFromResponse(status: number, body: unknown, statusText = ''): ApiError {
  if (isApiErrorBody(body)) return new ApiError(body.code, body.message, status);
  const text = statusText ? `${status} ${statusText}` : `HTTP ${status}`;
  return new ApiError(codeForStatus(status), `The node answered ${text}`, status);
}

/**
 * Turns anything a Tauri command rejected with (an `ApiErrorBody`, a JSON string of one,
 * a plain string or an Error) into an `ApiError`.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isApiErrorBody(err)) return new ApiError(err.code, err.message);
  if (typeof err === 'string') {
    try {
      const parsed: unknown = JSON.parse(err);
      if (isApiErrorBody(parsed)) return new ApiError(parsed.code, parsed.message);
    } catch {
      // not JSON: fall through
    }
    return new ApiError('internal', err);
  }
  if (err instanceof Error) return new ApiError('internal', err.message);
  return new ApiError('internal', 'Unknown error');
}

/** A short, human message for an error caught in the UI. */
export function describeError(err: unknown): string {
  const e = toApiError(err);
  return e.message || e.code.replace('_', ' ');
}
