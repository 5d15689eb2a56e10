// Plain-DOM rendering of the chat: the message list, the user list, status and errors.
// Text always goes through textContent, so user input is never parsed as HTML.
import type { Identity } from 'spacetimedb';
import type { Message, User } from './module_bindings';

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`index.html has no element #${id}`);
  return el as T;
}

export const elements = {
  status: byId<HTMLSpanElement>('status'),
  messages: byId<HTMLUListElement>('messages'),
  users: byId<HTMLUListElement>('users'),
  error: byId<HTMLParagraphElement>('error'),
  nameForm: byId<HTMLFormElement>('name-form'),
  nameInput: byId<HTMLInputElement>('name-input'),
  messageForm: byId<HTMLFormElement>('message-form'),
  messageInput: byId<HTMLInputElement>('message-input'),
};

export function showState(state: ConnectionState, detail: string): void {
  document.body.dataset.state = state;
  elements.status.textContent = detail;
}

export function showError(text: string): void {
  elements.error.textContent = text;
}

/** A user's display name: the chosen one, else the start of the identity (as the official quickstart). */
export function displayName(user: User | null | undefined, identity: Identity): string {
  return user?.name ?? identity.toHexString().slice(0, 8);
}

function item(className: string, ...children: (Node | string)[]): HTMLLIElement {
  const li = document.createElement('li');
  li.className = className;
  li.append(...children);
  return li;
}

function span(className: string, text: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = className;
  s.textContent = text;
  return s;
}

export function renderMessages(messages: Message[], nameOf: (sender: Identity) => string): void {
  const sorted = [...messages].sort((a, b) =>
    a.sent.microsSinceUnixEpoch < b.sent.microsSinceUnixEpoch ? -1 : a.sent.microsSinceUnixEpoch > b.sent.microsSinceUnixEpoch ? 1 : 0
  );
  const list = elements.messages;
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.replaceChildren(
    ...sorted.map(m =>
      item('message', span('sender', nameOf(m.sender)), span('text', m.text), span('sent', m.sent.toDate().toLocaleTimeString()))
    )
  );
  if (atBottom) list.scrollTop = list.scrollHeight;
}

export function renderUsers(users: User[], me: Identity | undefined): void {
  const sorted = [...users].sort((a, b) => Number(b.online) - Number(a.online) || displayName(a, a.identity).localeCompare(displayName(b, b.identity)));
  elements.users.replaceChildren(
    ...sorted.map(u => {
      const isMe = me !== undefined && u.identity.isEqual(me);
      const classes = [u.online ? 'online' : 'offline', isMe ? 'me' : ''].join(' ').trim();
      return item(classes, displayName(u, u.identity) + (isMe ? ' (you)' : ''));
    })
  );
}
