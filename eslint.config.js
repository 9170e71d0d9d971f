// @ts-check
/**
 * Lint rules for bosun (`npm run lint` runs this, then `prettier --check`).
 *
 * - TypeScript (src, test, bench, scripts): typescript-eslint's `recommendedTypeChecked`, with
 *   type information from tsconfig.json through the project service. Its promise rules
 *   (`no-floating-promises`, `no-misused-promises`) are the reason to lint with types: a promise
 *   nobody awaits or catches is how a run leaks a container or a stream stays open.
 * - The dashboard's browser modules (src/dashboard/public/js): ESLint's recommended rules with
 *   browser globals. They are plain JavaScript (JSDoc, no type-check), so no typed rules.
 * - Everywhere: `import-x/no-cycle` (a file-level import cycle), `bosun/no-folder-cycle` (a cycle
 *   between src/'s folders, which no-cycle does not see: see scripts/eslint/no-folder-cycle.js).
 * - eslint-config-prettier last: Prettier owns the layout, so no rule here argues about it.
 *
 * typescript-eslint reads types through TypeScript's JavaScript API, which TypeScript 7 does not
 * have yet: `typescript` is the 6.0 API (`@typescript/typescript6`), and `tsc` is TypeScript 7
 * (`@typescript/native`), as TypeScript's own 7.0 release notes describe for running both.
 */
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import prettier from 'eslint-config-prettier';
import { importX } from 'eslint-plugin-import-x';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import noFolderCycle from './scripts/eslint/no-folder-cycle.js';

/**
 * Unused names: `_name` marks one kept on purpose (a parameter's position in a signature, a
 * property taken out of an object so that the rest can be kept).
 */
const UNUSED_VARS = { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true };

export default defineConfig(
  globalIgnores(['node_modules/', 'data/', 'test-output/', 'coverage/', 'bench/results/', 'dist/', '.node/']),

  {
    name: 'bosun/imports',
    files: ['**/*.{ts,js}'],
    plugins: { 'import-x': importX, bosun: { rules: { 'no-folder-cycle': noFolderCycle } } },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
      'import-x/extensions': ['.ts', '.js'],
    },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-self-import': 'error',
      'import-x/no-duplicates': 'error',
      'bosun/no-folder-cycle': 'error',
    },
  },

  {
    name: 'bosun/typescript',
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', UNUSED_VARS],
    },
  },

  {
    name: 'bosun/dashboard-browser',
    files: ['src/dashboard/public/js/**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'module', globals: { ...globals.browser } },
    rules: { 'no-unused-vars': ['error', UNUSED_VARS] },
  },

  {
    name: 'bosun/node-js',
    files: ['*.js', 'scripts/**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'module', globals: { ...globals.node } },
  },

  prettier,
);
