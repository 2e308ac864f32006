// Two projects: unit tests sit beside the code and need no external process;
// e2e tests in test/ share one real control plane + Kafka started by globalSetup.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }],
};
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform,
  // Sources import './x.js' (NodeNext); map to the .ts file under jest.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testEnvironment: 'node',
};
export default {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{admission,policy-engine,controllers,brokers,kube,crds,policies,certs,cli,reports,dashboard,errors,archetypes}/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'e2e',
      setupFilesAfterEnv: ['<rootDir>/test/env/e2e-timeout.ts'],
      testMatch: ['<rootDir>/test/**/*.e2e.test.ts'],
      globalSetup: '<rootDir>/test/env/global-setup.ts',
      globalTeardown: '<rootDir>/test/env/global-teardown.ts',
    },
  ],
};
