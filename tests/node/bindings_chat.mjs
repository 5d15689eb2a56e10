// Hand-written bindings for tests/server/modules/chat.py (and the quickstart chat's user/message
// tables): user(identity pk, name option<string>, online bool), message(sender, sent, text),
// pet(id u64 pk, owner identity, name), reminder (scheduled), ping (an event table); reducers set_name, send_message, adopt, crash.
import { schema, table, t, reducers, reducerSchema, procedures } from 'spacetimedb';
import { makeDbConnection } from './sdk_helpers.mjs';

const UserRow = t.row({ identity: t.identity().primaryKey(), name: t.option(t.string()), online: t.bool() });
const MessageRow = t.row({ sender: t.identity(), sent: t.timestamp(), text: t.string() });
const PetRow = t.row({ id: t.u64().primaryKey(), owner: t.identity(), name: t.string() });
const PingRow = t.row({ text: t.string() });
const ReminderRow = t.row({ scheduled_id: t.u64().primaryKey(), scheduled_at: t.scheduleAt(), text: t.string() });

const tablesSchema = schema({
  user: table({ name: 'user' }, UserRow),
  message: table({ name: 'message' }, MessageRow),
  pet: table({ name: 'pet' }, PetRow),
  reminder: table({ name: 'reminder' }, ReminderRow),
  ping: table({ name: 'ping', event: true }, PingRow),
});

const reducersSchema = reducers(
  reducerSchema('set_name', { name: t.string() }),
  reducerSchema('send_message', { text: t.string() }),
  reducerSchema('adopt', { name: t.string() }),
  reducerSchema('crash', {}),
  reducerSchema('ping', { text: t.string() })
);

export const REMOTE_MODULE = {
  versionInfo: { cliVersion: '2.8.3' },
  tables: tablesSchema.schemaType.tables,
  reducers: reducersSchema.reducersType.reducers,
  ...procedures(),
};

export const DbConnection = makeDbConnection(REMOTE_MODULE);
