// The fan-out benchmark's peer: a bare Node `ws` broadcaster. Every message a client sends is sent
// to every other connected client, as it came; no storage, no encoding (the floor a WebSocket
// server in Node sets for fan-out).
import { importPackage } from '../keynote/loadgen/node_deps.mjs';

const port = Number(process.argv[2] ?? 3001);
const { WebSocketServer } = await importPackage('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client !== ws && client.readyState === 1) client.send(data, { binary: isBinary });
    }
  });
});
wss.on('listening', () => console.log(`listening on 127.0.0.1:${port}`));
