// The pinned npm SDK across a compatible republish (driven by test_republish_in_place.py): two
// clients connect and subscribe, the test republishes and then creates $STDB_REPUBLISH_SIGNAL; both
// must still be connected, a message sent after the swap (the new module upper-cases it) reaches
// the other client as a TransactionUpdate, and the new module's reducer can be called. Lives here (not tests/node) with the server's tests; the
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
  // The new module's add_note (not in these bindings: called by name, args as BSATN) schedules a
  // reminder, whose message reaches b too.
  const text = new TextEncoder().encode('from the sdk');
  const args = new Uint8Array(4 + text.length);
  new DataView(args.buffer).setUint32(0, text.length, true);
  args.set(text, 4);
  await a.conn.callReducer('add_note', args);
  await waitFor(() => seen.includes('reminder: from the sdk'), 'b receives the reminder scheduled by the new reducer');
  check(a.conn.isActive && b.conn.isActive, 'both clients are still connected');
  a.conn.disconnect();
  b.conn.disconnect();
});
