// Client bindings for examples/quickstart_chat.py's tables (user, message) and its send_message
// reducer, in the shape `spacetime generate --lang typescript` emits, for the fan-out benchmark.
import { importPackage } from '../keynote/loadgen/node_deps.mjs';

const sdk = await importPackage('spacetimedb');
const { DbConnectionBuilder, DbConnectionImpl, SubscriptionBuilderImpl, schema, table, t, reducers, reducerSchema, procedures } =
  sdk;

// The SDK logs every connect at 'info' on stdout, where our JSON lines go.
sdk.setGlobalLogLevel('warn');

const UserRow = t.row({ identity: t.identity().primaryKey(), name: t.option(t.string()), online: t.bool() });
const MessageRow = t.row({ sender: t.identity(), sent: t.timestamp(), text: t.string() });

const tablesSchema = schema({
  user: table({ name: 'user' }, UserRow),
  message: table({ name: 'message' }, MessageRow),
});

const reducersSchema = reducers(
  reducerSchema('set_name', { name: t.string() }),
  reducerSchema('send_message', { text: t.string() }),
);

const REMOTE_MODULE = {
  versionInfo: { cliVersion: '2.8.3' },
  tables: tablesSchema.schemaType.tables,
  reducers: reducersSchema.reducersType.reducers,
  ...procedures(),
};

export class DbConnection extends DbConnectionImpl {
  static builder = () => new DbConnectionBuilder(REMOTE_MODULE, (config) => new DbConnection(config));
  subscriptionBuilder = () => new SubscriptionBuilderImpl(this);
}
