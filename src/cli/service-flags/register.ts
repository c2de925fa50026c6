import { type Command, Option } from 'commander';
import { flagError } from './errors.js';
import {
  CREATE_FLAGS,
  type FlagDef,
  NODE_UPDATE_FLAGS,
  ROLLBACK_FLAGS,
  SCALE_FLAGS,
  UPDATE_FLAGS,
} from './flag-table.js';

/**
 * Adds docker's `service create` flags and its `IMAGE [COMMAND] [ARG...]` positionals. Options
 * stop at IMAGE (docker's SetInterspersed(false)), so `sh -c …` after the image reaches the
 * container untouched; commander needs positional options on every ancestor for that, which this
 * turns on (global options then go before the subcommand, as with docker).
 */
export function registerServiceCreateFlags(command: Command): Command {
  for (let p = command.parent; p; p = p.parent) p.enablePositionalOptions();
  command
    .usage('[OPTIONS] IMAGE [COMMAND] [ARG...]')
    .passThroughOptions()
    .argument('<image>', 'Image to run')
    .argument('[command...]', 'Command and arguments for the container');
  addFlags(command, CREATE_FLAGS, true);
  return command;
}

/** `service update [OPTIONS] SERVICE`. */
export function registerServiceUpdateFlags(command: Command): Command {
  command.usage('[OPTIONS] SERVICE').argument('<service>', 'Service name or ID');
  addFlags(command, UPDATE_FLAGS, false);
  return command;
}

/** `service rollback [OPTIONS] SERVICE`: `-d`, `-q`. */
export function registerServiceRollbackFlags(command: Command): Command {
  command.usage('[OPTIONS] SERVICE').argument('<service>', 'Service name or ID');
  addFlags(command, ROLLBACK_FLAGS, false);
  return command;
}

/** `service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]`: `-d`. */
export function registerServiceScaleFlags(command: Command): Command {
  command
    .usage('SERVICE=REPLICAS [SERVICE=REPLICAS...]')
    .argument('<service=replicas...>', 'Services and their new replica counts');
  addFlags(command, SCALE_FLAGS, false);
  return command;
}

/** `node update [OPTIONS] NODE`. */
export function registerNodeUpdateFlags(command: Command): Command {
  command.usage('[OPTIONS] NODE').argument('<node>', 'Node ID or hostname');
  addFlags(command, NODE_UPDATE_FLAGS, false);
  return command;
}

function collect(value: string, previous: readonly string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function addFlags(command: Command, defs: readonly FlagDef[], stopAtOperand: boolean): void {
  const booleans = new Set<string>();
  for (const def of defs) {
    const flags = `${def.short ? `-${def.short}, ` : ''}--${def.name}${def.type ? ` <${def.type}>` : ''}`;
    const option = new Option(flags, def.help);
    if (def.repeatable) option.argParser(collect);
    command.addOption(option);
    if (def.type === undefined) {
      booleans.add(def.name);
      // A hidden negation lets `--init=false` reach commander as `--no-init` (see below).
      if (!def.name.startsWith('no-')) command.addOption(new Option(`--no-${def.name}`).hideHelp());
    }
  }
  const valueShorts = new Set(defs.filter((d) => d.type && d.short).map((d) => `-${d.short}`));
  const valueLongs = new Set(defs.filter((d) => d.type).map((d) => `--${d.name}`));
  const original = command.parseOptions.bind(command);
  // Docker (pflag) accepts `--detach=false`; commander's booleans take no value. Rewriting the
  // tokens before commander sees them keeps docker's scripts working.
  command.parseOptions = (args: string[]) =>
    original(rewriteBooleanValues(args, booleans, valueLongs, valueShorts, stopAtOperand));
}

const TRUE = ['1', 't', 'T', 'true', 'TRUE', 'True'];
const FALSE = ['0', 'f', 'F', 'false', 'FALSE', 'False'];

/** `--x=true` → `--x`, `--x=false` → `--no-x` (or nothing for `--no-x=false`). */
export function rewriteBooleanValues(
  args: readonly string[],
  booleans: ReadonlySet<string>,
  valueLongs: ReadonlySet<string>,
  valueShorts: ReadonlySet<string>,
  stopAtOperand: boolean,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--' || (stopAtOperand && !arg.startsWith('-'))) {
      out.push(...args.slice(i));
      break;
    }
    const m = /^--([^=]+)=(.*)$/s.exec(arg);
    if (m && booleans.has(m[1]!)) {
      const name = m[1]!;
      const value = m[2]!;
      const on = TRUE.includes(value) ? true : FALSE.includes(value) ? false : undefined;
      if (on === undefined) throw flagError(name, value, `invalid boolean value ${JSON.stringify(value)}`);
      if (name.startsWith('no-')) {
        if (on) out.push(`--${name}`);
      } else out.push(on ? `--${name}` : `--no-${name}`);
      continue;
    }
    out.push(arg);
    // The value of `--name web` or `-e K=V` is not an operand.
    if (valueLongs.has(arg) || valueShorts.has(arg)) {
      if (i + 1 < args.length) out.push(args[++i]!);
    }
  }
  return out;
}
