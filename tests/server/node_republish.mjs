// The pinned npm SDK across a compatible republish (driven by test_republish_in_place.py): two
// clients connect and subscribe, the test republishes and then creates $STDB_REPUBLISH_SIGNAL; both
// must still be connected, and a message sent after the swap (the new module upper-cases it) reaches
// the other client as a TransactionUpdate. Lives here (not tests/node) with the server's tests; the
// imported helpers resolve 'spacetimedb' from tests/node/node_modules.
import { existsSync } from 'node:fs';
import { DbConnection } from '../node/bindings_chat.mjs';
import { check, connect, run, step, subscribe, waitFor } from '../node/sdk_helpers.mjs';

run(async () => {
  const a = await connect(DbConnection);
  const b = await connect(DbConnection);
  await subscribe(b.conn, ['SELECT * FROM message']);
  const seen = [];
  b.conn.db.message.onInsert((_ctx, m) => seen.push(m.text));
  step('subscribed');
  await waitFor(() => existsSync(process.env.STDB_REPUBLISH_SIGNAL), 'the republish', 15000);
  check(a.conn.isActive && b.conn.isActive, 'both clients are still connected after the republish');
  await a.conn.reducers.sendMessage({ text: 'after the swap' });
  await waitFor(() => seen.includes('AFTER THE SWAP'), 'b receives the message written by the new module');
  check(a.conn.isActive && b.conn.isActive, 'both clients are still connected');
  a.conn.disconnect();
  b.conn.disconnect();
});
