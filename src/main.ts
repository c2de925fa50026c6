import { runCli } from './cli/index.js';

// The single executable's entry: every verb goes through the CLI's command tree; the node
// process (`swarmctl daemon`) is loaded only when asked for, so CLI verbs start fast.
runCli(process.argv.slice(2), {
  runDaemon: async (flags) => (await import('./daemon/index.js')).runDaemon(flags),
}).then(
  (code) => {
    // A command may have set its own exit code (the daemon verb does).
    if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(
      `swarmctl: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exitCode = 70;
  },
);
