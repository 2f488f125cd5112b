/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec'],
  testMatch: ['**/*.spec.ts'],
  // Transpile only: `npm run lint` type-checks everything with tsc. devalue
  // ships ES modules only, which Jest on Node 20 cannot require: ts-jest
  // compiles it to CommonJS too.
  transform: { '^.+\\.(ts|js)$': ['ts-jest', { tsconfig: 'tsconfig.spec.json' }] },
  transformIgnorePatterns: ['/node_modules/(?!devalue/)'],
  globalSetup: '<rootDir>/spec/support/global-setup.ts',
  testTimeout: 60000,
  // Postgres suites share one server; two workers keep the machine responsive.
  maxWorkers: 2,
};
