// Node 20 has no global WebSocket (Node 22 has). The SDK would fall back to importing `undici`
// itself; installing undici's WebSocket here, before any connection is built, makes that explicit.
import { WebSocket } from 'undici';

const g = globalThis as { WebSocket?: unknown };
g.WebSocket ??= WebSocket;
