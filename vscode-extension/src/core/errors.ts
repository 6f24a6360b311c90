/** A failed request (a JSON-RPC ResponseError or anything thrown) in words for the user. */
import { isRecord } from './format';

export const REQUEST_CANCELLED = -32800;
export const SERVER_CANCELLED = -32802;
export const REQUEST_FAILED = -32803;
export const CONTENT_MODIFIED = -32801;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const CONNECTION_INACTIVE = -32096; // vscode-jsonrpc ErrorCodes.ConnectionInactive
export const PENDING_RESPONSE_REJECTED = -32097;

export type RequestFailure =
  | { kind: 'cancelled' }
  | { kind: 'refused'; message: string }
  | { kind: 'error'; message: string };

export function describeRequestError(error: unknown, method: string, cancelledHere = false): RequestFailure {
  const code = isRecord(error) && typeof error.code === 'number' ? error.code : undefined;
  const raw = error instanceof Error ? error.message : isRecord(error) && typeof error.message === 'string' ? error.message : String(error);
  const name = error instanceof Error ? error.name : '';
  if (code === REQUEST_CANCELLED || code === SERVER_CANCELLED || name === 'Canceled' || (cancelledHere && code !== REQUEST_FAILED)) {
    return { kind: 'cancelled' };
  }
  if (code === REQUEST_FAILED) {
    return { kind: 'refused', message: raw };
  }
  if (code === METHOD_NOT_FOUND) {
    return {
      kind: 'error',
      message: `the promptlsp server does not know ${method}; it is older than this extension — upgrade it with: python -m pip install -U promptlsp`,
    };
  }
  if (code === INVALID_PARAMS) {
    return { kind: 'error', message: `the server rejected the ${method} request: ${raw}` };
  }
  if (code === CONNECTION_INACTIVE || code === PENDING_RESPONSE_REJECTED || /Client is not running/i.test(raw)) {
    return { kind: 'error', message: 'the promptlsp server is not running; see the promptlsp output, fix the problem it reports, then run "promptlsp: Restart server"' };
  }
  if (code === CONTENT_MODIFIED) {
    return { kind: 'refused', message: 'the file changed while the request ran; try again' };
  }
  return { kind: 'error', message: `${method} failed: ${raw}` };
}
