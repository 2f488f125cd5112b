import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'scratch/', 'demo/live/vendor/', 'docs/api/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector: 'NewExpression[callee.name="Promise"] > :function[async=true]',
          message: 'never new Promise(async …)',
        },
      ],
    },
  },
  {
    // TypeORM's and the drivers' internals stay behind the dialect seam (lib/dialect/typeorm/ explains each use).
    files: ['lib/**/*.ts'],
    ignores: ['lib/dialect/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['pg', 'pg-cursor', 'sqlite3'].map((name) => ({
            name,
            message: 'only lib/dialect/ talks to the drivers: add what you need to the Dialect',
          })),
          patterns: [
            {
              group: ['typeorm/driver/*'],
              message: "only lib/dialect/ uses TypeORM's driver classes: add what you need to the Dialect",
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { globals: { module: 'writable', require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier,
);
