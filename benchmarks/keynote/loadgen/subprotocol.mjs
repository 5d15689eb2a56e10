// The SDK offers both subprotocols (v3 first) and has no switch to offer only one. To force v2 (the
// upstream-comparable profile) we install, as globalThis.WebSocket, undici's WebSocket with the offer
// narrowed to v2; the SDK uses a global WebSocket when there is one, so its own code is unchanged.
import { importPackage } from './node_deps.mjs';

export const SUBPROTOCOLS = { v2: 'v2.bsatn.spacetimedb', v3: 'v3.bsatn.spacetimedb' };

/** 'v3' leaves the SDK's own offer (v3, v2) alone; 'v2' offers only v2. */
export async function chooseSubprotocol(choice) {
  if (!(choice in SUBPROTOCOLS)) throw new Error(`unknown protocol '${choice}': use v2 or v3`);
  const undici = await importPackage('undici');
  const Base = undici.WebSocket ?? undici.default?.WebSocket;
  if (choice === 'v3') {
    globalThis.WebSocket ??= Base;
    return;
  }
  const only = SUBPROTOCOLS[choice];
  globalThis.WebSocket = class OnlyOneSubprotocol extends Base {
    constructor(url, _offered) {
      super(url, [only]);
    }
  };
}
