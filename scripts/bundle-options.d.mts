import type { BuildOptions } from 'esbuild';

export declare const codeOptions: BuildOptions;
export declare function renamedErrorClasses(code: string): string[];
