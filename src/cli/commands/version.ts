import type { Command } from 'commander';
import { buildInfo } from '../build-info.js';
import type { CliOutput } from '../output/streams.js';

export function registerVersion(program: Command, output: CliOutput): void {
  program
    .command('version')
    .description('Show the swarmctl version information')
    .option('--format <format>', 'Format the output: "json" or text')
    .action((opts: { format?: string }) => {
      const info = { ...buildInfo(), node: process.version, platform: `${process.platform}/${process.arch}` };
      if (opts.format === 'json') {
        output.out(`${JSON.stringify(info)}\n`);
        return;
      }
      output.out(
        [
          `Version:     ${info.version}`,
          `Git commit:  ${info.commit}`,
          `Node:        ${info.node}`,
          `OS/Arch:     ${info.platform}`,
          '',
        ].join('\n'),
      );
    });
}
