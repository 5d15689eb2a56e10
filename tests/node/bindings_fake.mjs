// Hand-written bindings (as `spacetime generate --lang typescript` would emit) for the fake test
// module of tests/server/fake_backend.py: person(id u64 pk, name string), secret(id u64),
// reducers add(name), rename(id, name), fail(), crash(), add_secret(id).
import { schema, table, t, reducers, reducerSchema, procedures } from 'spacetimedb';
import { makeDbConnection } from './sdk_helpers.mjs';

const PersonRow = t.row({ id: t.u64().primaryKey(), name: t.string() });
const SecretRow = t.row({ id: t.u64() });

const tablesSchema = schema({
  person: table(
    {
      name: 'person',
      indexes: [{ accessor: 'id', name: 'person_id_idx_btree', algorithm: 'btree', columns: ['id'] }],
      constraints: [{ name: 'person_id_key', constraint: 'unique', columns: ['id'] }],
    },
    PersonRow
  ),
  secret: table({ name: 'secret' }, SecretRow),
});

const reducersSchema = reducers(
  reducerSchema('add', { name: t.string() }),
  reducerSchema('rename', { id: t.u64(), name: t.string() }),
  reducerSchema('fail', {}),
  reducerSchema('crash', {}),
  reducerSchema('add_secret', { id: t.u64() }),
  reducerSchema('nope', {})
);

export const REMOTE_MODULE = {
  versionInfo: { cliVersion: '2.8.3' },
  tables: tablesSchema.schemaType.tables,
  reducers: reducersSchema.reducersType.reducers,
  ...procedures(),
};

export const DbConnection = makeDbConnection(REMOTE_MODULE);
