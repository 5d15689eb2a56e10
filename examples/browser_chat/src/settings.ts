// Where to connect, from the page's query string, and the saved token for that server and database.
//   index.html?server=ws://127.0.0.1:3000&db=quickstart-chat

export const DEFAULT_SERVER = 'ws://127.0.0.1:3000';
export const DEFAULT_DATABASE = 'quickstart-chat';

export interface Settings {
  server: string;
  database: string;
}

export function readSettings(search: string = window.location.search): Settings {
  const params = new URLSearchParams(search);
  return {
    server: params.get('server') || DEFAULT_SERVER,
    database: params.get('db') || DEFAULT_DATABASE,
  };
}

// One token per server and database: a token is only valid on the server that signed it.
function tokenKey(s: Settings): string {
  return `spacetimedb-chat:token:${s.server}/${s.database}`;
}

export function loadToken(s: Settings): string | undefined {
  return window.localStorage.getItem(tokenKey(s)) ?? undefined;
}

export function saveToken(s: Settings, token: string): void {
  window.localStorage.setItem(tokenKey(s), token);
}

export function forgetToken(s: Settings): void {
  window.localStorage.removeItem(tokenKey(s));
}
