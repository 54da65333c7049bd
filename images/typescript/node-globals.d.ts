// The Node.js globals a single-file program uses, for tsc without @types/node.
declare var process: any;
declare var require: any;
declare var module: any;
declare var exports: any;
declare var Buffer: any;
declare var __dirname: string;
declare var __filename: string;
declare function setTimeout(cb: (...args: any[]) => void, ms?: number, ...args: any[]): any;
declare function setInterval(cb: (...args: any[]) => void, ms?: number, ...args: any[]): any;
declare function clearTimeout(id: any): void;
declare function clearInterval(id: any): void;
declare function setImmediate(cb: (...args: any[]) => void, ...args: any[]): any;
// node:test and node:assert, loosely typed, for tests written in TypeScript.
declare module "node:test" {
  const test: any;
  export default test;
  export const describe: any, it: any, before: any, after: any, beforeEach: any, afterEach: any;
  export { test };
}
declare module "node:assert" {
  const assert: any;
  export default assert;
  export const strictEqual: any, deepStrictEqual: any, equal: any, deepEqual: any, ok: any, throws: any, notStrictEqual: any;
}
declare module "node:assert/strict" {
  const assert: any;
  export default assert;
  export const strictEqual: any, deepStrictEqual: any, equal: any, deepEqual: any, ok: any, throws: any, notStrictEqual: any;
}
