/**
 * The REST client: every call the frontend makes to the server goes through
 * this module.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IArtifactPage, IEventPage, IStoreSummary } from './protocol';

/** The URL namespace of the server extension. */
export const API_NAMESPACE = 'collab-reuse';

/** Call `GET /collab-reuse/<endpoint>` and parse the JSON answer. */
export async function requestAPI<T>(
  endpoint: string,
  query: Record<string, string | number | undefined> = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) {
      params.set(key, String(value));
    }
  }
  const search = params.toString();
  const url =
    URLExt.join(settings.baseUrl, API_NAMESPACE, endpoint) +
    (search ? `?${search}` : '');

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, {}, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // Not JSON (e.g. an HTML error page): keep the text for the error.
    }
  }
  if (!response.ok) {
    throw new ServerConnection.ResponseError(response, data?.message ?? text);
  }
  return data as T;
}

/** The reuse report's page (`GET /collab-reuse/report`, HTML), for a link. */
export function reportUrl(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return URLExt.join(settings.baseUrl, API_NAMESPACE, 'report');
}

/** The store's summary: size, budget, hit rate, most valuable artifacts. */
export function fetchSummary(): Promise<IStoreSummary> {
  return requestAPI<IStoreSummary>('summary');
}

/** One page of the store's artifacts, most valuable first. */
export function fetchArtifacts(offset = 0, limit = 100): Promise<IArtifactPage> {
  return requestAPI<IArtifactPage>('artifacts', { offset, limit });
}

/** Cell reports of one kernel with `seq > since`, oldest first. */
export function fetchEvents(
  kernelId: string,
  since = 0,
  limit = 500
): Promise<IEventPage> {
  return requestAPI<IEventPage>('events', { kernel_id: kernelId, since, limit });
}
