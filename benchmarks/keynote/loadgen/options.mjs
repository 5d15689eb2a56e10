// Command-line options shared by the load generators: `--name value` pairs, all required ones checked.

export function parseOptions(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}' (options are --name value)`);
    const key = arg.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults)) throw new Error(`unknown option '${arg}'; known: ${Object.keys(defaults).join(', ')}`);
    const value = argv[++i];
    if (value === undefined) throw new Error(`option '${arg}' needs a value`);
    out[key] = typeof defaults[key] === 'number' ? Number(value) : value;
    if (typeof defaults[key] === 'number' && !Number.isFinite(out[key])) {
      throw new Error(`option '${arg}' needs a number, got '${value}'`);
    }
  }
  return out;
}

/** One JSON line on stdout: the orchestrator reads events and the final result this way. */
export function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

/** Reports an error as a JSON line and exits non-zero; the orchestrator shows the message. */
export function fail(err) {
  const message = err instanceof Error ? err.message : String(err);
  emit('error', { message });
  process.exit(1);
}
