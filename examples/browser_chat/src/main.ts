// The browser chat: connects with the generated bindings, subscribes to `user` and `message`,
// and calls the `set_name` and `send_message` reducers from two forms.
import type { Identity } from 'spacetimedb';
import { DbConnection } from './module_bindings';
import { forgetToken, loadToken, readSettings, saveToken } from './settings';
import { displayName, elements, renderMessages, renderUsers, showError, showState } from './view';

const settings = readSettings();
let conn: DbConnection | undefined;
let me: Identity | undefined;

// Table callbacks fire once per row; render once per batch of them.
let renderQueued = false;
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    render();
  });
}

function render(): void {
  if (conn === undefined) return;
  const db = conn.db;
  const nameOf = (identity: Identity): string => displayName(db.user.identity.find(identity), identity);
  renderMessages([...db.message.iter()], nameOf);
  renderUsers([...db.user.iter()], me);
  if (me !== undefined && document.body.dataset.state === 'connected') {
    showState('connected', `${nameOf(me)} on ${settings.database}`);
  }
}

function onConnect(c: DbConnection, identity: Identity, token: string): void {
  conn = c;
  me = identity;
  saveToken(settings, token); // a reload reconnects as the same user
  document.body.dataset.identity = identity.toHexString();
  c.db.user.onInsert(scheduleRender);
  c.db.user.onUpdate(scheduleRender);
  c.db.user.onDelete(scheduleRender);
  c.db.message.onInsert(scheduleRender);
  c.db.message.onDelete(scheduleRender);
  c.subscriptionBuilder()
    .onApplied(() => {
      showState('connected', 'connected');
      render();
    })
    .onError(ctx => showError(`subscription failed: ${ctx.event?.message ?? 'unknown error'}`))
    .subscribe(['SELECT * FROM user', 'SELECT * FROM message']);
}

function connect(useSavedToken: boolean): void {
  const token = useSavedToken ? loadToken(settings) : undefined;
  showState('connecting', `connecting to ${settings.server}/${settings.database}…`);
  DbConnection.builder()
    .withUri(settings.server)
    .withDatabaseName(settings.database)
    .withToken(token)
    .onConnect(onConnect)
    .onConnectError((_ctx, err) => {
      if (token !== undefined) {
        // The saved token may come from a server whose keys were reset: start over as a new user.
        forgetToken(settings);
        connect(false);
        return;
      }
      showState('disconnected', 'not connected');
      showError(`could not connect to ${settings.server}/${settings.database}: ${err.message}`);
    })
    .onDisconnect((_ctx, err) => {
      conn = undefined;
      showState('disconnected', 'disconnected');
      if (err) showError(`disconnected: ${err.message}`);
    })
    .build();
}

/** Submit handler for a one-field form: call the reducer, clear the field, show a refusal. */
function onSubmit(form: HTMLFormElement, input: HTMLInputElement, call: (c: DbConnection, text: string) => Promise<void>): void {
  form.addEventListener('submit', event => {
    event.preventDefault();
    if (conn === undefined) {
      showError('not connected');
      return;
    }
    const text = input.value.trim();
    call(conn, text).then(
      () => {
        input.value = '';
        showError('');
      },
      (err: unknown) => showError(err instanceof Error ? err.message : String(err))
    );
  });
}

onSubmit(elements.nameForm, elements.nameInput, (c, name) => c.reducers.setName({ name }));
onSubmit(elements.messageForm, elements.messageInput, (c, text) => c.reducers.sendMessage({ text }));
connect(true);
