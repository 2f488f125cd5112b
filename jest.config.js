/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec'],
  testMatch: ['**/*.spec.ts'],
  // Transpile only: `npm run lint` type-checks everything with tsc.
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.spec.json' }] },
  globalSetup: '<rootDir>/spec/support/global-setup.ts',
  testTimeout: 60000,
  // Postgres suites share one server; two workers keep the machine responsive.
  maxWorkers: 2,
};
