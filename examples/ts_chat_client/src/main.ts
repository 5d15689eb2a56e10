// A console client for the quickstart chat (examples/quickstart_chat.py): connects, optionally sets
// a name and sends a message, then prints every message as it arrives.
//
//   npm start -- --name Ada --message 'Hello from Node'
//   npm start -- --exit-after 3     # quit after 3 new messages (for scripts and tests)
import './websocket';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Identity } from 'spacetimedb';
import { DbConnection, type ErrorContext, type EventContext, type Message, type User } from './module_bindings';

const { values: opts } = parseArgs({
  options: {
    uri: { type: 'string', default: process.env.SPACETIMEDB_URI ?? 'ws://127.0.0.1:3000' },
    db: { type: 'string', default: process.env.SPACETIMEDB_DB ?? 'quickstart-chat' },
    name: { type: 'string' },
    message: { type: 'string' },
    'exit-after': { type: 'string' },
    'token-file': { type: 'string', default: '.spacetimedb-token' },
  },
});
const exitAfter = opts['exit-after'] === undefined ? undefined : Number(opts['exit-after']);
const tokenFile = opts['token-file']!;

let conn: DbConnection | undefined;
let newMessages = 0;

function userName(identity: Identity): string {
  const user = conn?.db.user.identity.find(identity);
  return user?.name ?? identity.toHexString().slice(0, 8);
}

function printMessage(m: Message): void {
  console.log(`${userName(m.sender)}: ${m.text}`);
}

function onMessage(ctx: EventContext, m: Message): void {
  // Rows from the initial subscription are printed (sorted) once it is applied.
  if (ctx.event.tag === 'SubscribeApplied') return;
  printMessage(m);
  newMessages += 1;
  if (exitAfter !== undefined && newMessages >= exitAfter) {
    conn?.disconnect();
    process.exit(0);
  }
}

function onUserUpdate(_ctx: EventContext, old: User, user: User): void {
  if (old.name !== user.name) {
    console.log(`${old.name ?? old.identity.toHexString().slice(0, 8)} renamed to ${user.name}`);
  }
  if (old.online !== user.online) {
    console.log(`${userName(user.identity)} ${user.online ? 'connected' : 'disconnected'}`);
  }
}

function onApplied(): void {
  const c = conn!;
  const backlog = [...c.db.message.iter()].sort((a, b) =>
    a.sent.microsSinceUnixEpoch < b.sent.microsSinceUnixEpoch ? -1 : 1
  );
  backlog.forEach(printMessage);
  console.log(`-- ${backlog.length} earlier message(s); listening --`);
  void (async () => {
    try {
      if (opts.name !== undefined) await c.reducers.setName({ name: opts.name });
      if (opts.message !== undefined) await c.reducers.sendMessage({ text: opts.message });
    } catch (e) {
      // The module refuses an empty name or message with a SenderError: the reducer's message.
      console.error(`refused: ${(e as Error).message}`);
    }
  })();
}

const savedToken = fs.existsSync(tokenFile) ? fs.readFileSync(tokenFile, 'utf8').trim() : undefined;

DbConnection.builder()
  .withUri(opts.uri!)
  .withDatabaseName(opts.db!)
  .withToken(savedToken)
  .onConnect((c, identity, token) => {
    conn = c;
    fs.writeFileSync(tokenFile, token, { mode: 0o600 }); // the same identity next time
    console.log(`connected to ${opts.db} as ${identity.toHexString().slice(0, 8)}`);
    c.db.message.onInsert(onMessage);
    c.db.user.onUpdate(onUserUpdate);
    c.subscriptionBuilder()
      .onApplied(onApplied)
      .onError((ctx: ErrorContext) => console.error('subscription error:', ctx.event))
      .subscribe(['SELECT * FROM user', 'SELECT * FROM message']);
  })
  .onDisconnect((_ctx: ErrorContext, error?: Error) => {
    console.error(error ? `disconnected: ${error.message}` : 'disconnected');
    process.exit(error ? 1 : 0);
  })
  .onConnectError((_ctx: ErrorContext, error: Error) => {
    console.error(`cannot connect to ${opts.uri}: ${error.message}`);
    // A token saved from another server (or a wiped data dir) is refused: start afresh without it.
    if (savedToken) console.error(`(if the server no longer knows this identity, delete ${tokenFile})`);
    process.exit(1);
  })
  .build();
