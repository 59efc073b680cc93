// Lint: the layering rules that keep the code base livable, checked on every test run.
// - core/ is pure logic: no I/O library (sockets, files, processes, HTTP clients, loggers).
// - each binary's folder (controller, proxy, agent, cli) reaches only core/ and common/, never
//   into another binary's folder; what two binaries share moves to common/.
// Plus a few rules that catch real bugs (unused imports are left to tsc's noUnusedLocals).
import tseslint from 'typescript-eslint';

const IO = ['fs', 'fs/promises', 'net', 'tls', 'http', 'https', 'http2', 'dgram', 'dns', 'child_process', 'cluster', 'worker_threads', 'os', 'process'].flatMap((m) => [m, `node:${m}`]);
const IO_PACKAGES = ['undici', 'consul', 'dockerode', 'pino', 'yargs'];
const pure = { paths: [...IO, ...IO_PACKAGES].map((name) => ({ name, message: 'core/ is pure logic with no I/O: put the I/O in an adapter of the binary that needs it.' })) };
const outside = (...folders) => ({
  patterns: folders.map((f) => ({ group: [`**/${f}/**`, `../${f}/*`], message: `a binary's folder does not reach into ${f}/: move what is shared to common/ (or core/ when it is pure).` })),
});

export default [
  { ignores: ['dist/**', 'node_modules/**', 'native/**', 'examples/**', '**/*.js', '**/*.mjs'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { ecmaVersion: 2022, sourceType: 'module' } },
    rules: {
      'no-constant-binary-expression': 'error',
      'no-self-compare': 'error',
      'no-unsafe-finally': 'error',
      'no-dupe-else-if': 'error',
    },
  },
  { files: ['core/**/*.ts'], rules: { 'no-restricted-imports': ['error', { ...pure, ...outside('controller', 'proxy', 'agent', 'cli', 'common') }] } },
  { files: ['common/**/*.ts'], rules: { 'no-restricted-imports': ['error', outside('controller', 'proxy', 'agent', 'cli')] } },
  { files: ['controller/**/*.ts'], rules: { 'no-restricted-imports': ['error', outside('proxy', 'agent', 'cli')] } },
  { files: ['proxy/**/*.ts'], rules: { 'no-restricted-imports': ['error', outside('controller', 'agent', 'cli')] } },
  { files: ['agent/**/*.ts'], rules: { 'no-restricted-imports': ['error', outside('controller', 'proxy', 'cli')] } },
  { files: ['cli/**/*.ts'], rules: { 'no-restricted-imports': ['error', outside('controller', 'proxy', 'agent')] } },
];
