// Requests to the server extension's store API (nb_mlops/server/handlers.py), with the page's
// own credentials and XSRF token (ServerConnection): GET to read, POST to change.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** A refusal of the API: its one-line reason and HTTP status. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

/** GET `endpoint` with `params` (or POST `body` when given); the answer's JSON. */
export async function requestAPI<T>(
  endpoint: string,
  params: Record<string, string | number | undefined> = {},
  body?: Record<string, unknown>
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const query = Object.entries(params)
    .filter(([, value]) => value !== undefined && value !== '')
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');
  const url =
    URLExt.join(settings.baseUrl, 'nb-mlops', 'api', endpoint) + (query ? `?${query}` : '');
  const init: RequestInit = body
    ? { method: 'POST', body: JSON.stringify(body) }
    : { method: 'GET' };
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ApiError(`the server did not answer: ${String(error)}`, 0);
  }
  const text = await response.text();
  let data: any = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(`the server answered ${response.status} without JSON`, response.status);
  }
  if (!response.ok) {
    throw new ApiError(data.error ?? `the server answered ${response.status}`, response.status);
  }
  return data as T;
}
