// Hand-written client bindings for examples/bank.py, in the shape `spacetime generate --lang typescript`
// emits (see the spec's ts-sdk-client.md section 3): table accounts(id u32 pk, balance i64),
// reducers seed(n u32, balance i64) and transfer(from_id u32, to_id u32, amount i64).
// Reducer arguments travel as a positional BSATN product, so only order and types must match the module.
import { importPackage } from './node_deps.mjs';

const sdk = await importPackage('spacetimedb');
const { DbConnectionBuilder, DbConnectionImpl, SubscriptionBuilderImpl, schema, table, t, reducers, reducerSchema, procedures } =
  sdk;

// The SDK logs every connect at 'info' on stdout, where our JSON lines go.
sdk.setGlobalLogLevel('warn');

const AccountsRow = t.row({
  id: t.u32().primaryKey(),
  balance: t.i64(),
});

const SeedParams = { n: t.u32(), balance: t.i64() };
const TransferParams = { from_id: t.u32(), to_id: t.u32(), amount: t.i64() };

const tablesSchema = schema({
  accounts: table(
    {
      name: 'accounts',
      indexes: [{ accessor: 'id', name: 'accounts_id_idx_btree', algorithm: 'btree', columns: ['id'] }],
      constraints: [{ name: 'accounts_id_key', constraint: 'unique', columns: ['id'] }],
    },
    AccountsRow,
  ),
});
const reducersSchema = reducers(reducerSchema('seed', SeedParams), reducerSchema('transfer', TransferParams));
const proceduresSchema = procedures();

export const REMOTE_MODULE = {
  versionInfo: { cliVersion: '2.0.3' }, // the SDK refuses bindings older than 1.4.0
  tables: tablesSchema.schemaType.tables,
  reducers: reducersSchema.reducersType.reducers,
  ...proceduresSchema,
};

export class DbConnection extends DbConnectionImpl {
  static builder = () => new DbConnectionBuilder(REMOTE_MODULE, (config) => new DbConnection(config));
  subscriptionBuilder = () => new SubscriptionBuilderImpl(this);
}
