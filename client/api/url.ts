// Server URLs from the config may carry a path prefix and/or a trailing slash; API paths are
// appended to that prefix. A bare host gets https:// as Mender's buildURL does.
export function serverBase(server: string): string {
  const withScheme = /^https?:\/\//i.test(server) ? server : `https://${server}`;
  return withScheme.replace(/\/+$/, '');
}

export function joinUrl(server: string, path: string): string {
  return `${serverBase(server)}/${path.replace(/^\/+/, '')}`;
}
